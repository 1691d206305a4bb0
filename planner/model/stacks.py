"""Training stacks (``training.framework``): what each software stack does that changes step time,
as a registry of named entries (torchtitan style: components chosen by name, not ``if`` chains).

A stack is the code that runs the model — Megatron-Core with Transformer Engine (and NeMo /
Megatron-Bridge on it), torchtitan (FSDP2), DeepSpeed ZeRO, Hugging Face Trainer / accelerate,
llm-foundry — and its *options* (torch.compile, TP communication overlap or async TP, overlapped
gradient reduce and parameter gather, FSDP reshard-after-forward, the low-precision recipe). The
time model reads one resolved ``Stack`` (registry entry + the job's options); every output names
it (``Stack.describe``).

Each field says what it is and where its value comes from. Op counts are counted from the stack's
source, not fitted:

* Megatron-LM legacy ``ParallelTransformerLayer`` (as in Megatron-DeepSpeed): input norm, QKV
  linear, ~8 views/transposes, baddbmm, fused softmax, dropout under the RNG-tracker fork, bmm,
  permute+contiguous, out linear, fused bias-dropout-add, norm, fc1, fused bias-gelu, fc2,
  bias-dropout-add, TP region copies — about 40 host ops per layer forward.
* Megatron-Core ``TransformerLayer`` with TE modules (``TELayerNormColumnParallelLinear`` fuses the
  norm into the QKV/fc1 GEMM; ``TEDotProductAttention``; fused bias-dropout-add; fused SwiGLU):
  about 20 host ops (megatron/core/transformer/transformer_layer.py, extensions/transformer_engine.py).
* torchtitan's Llama ``TransformerBlock`` (torchtitan/models/llama3/model.py): RMSNorm, wq/wk/wv,
  RoPE (complex mul: view_as_complex/real, ~8 ops), SDPA, wo, residual, RMSNorm, w1/w3, silu, mul,
  w2, residual, plus FSDP2 pre/post-forward hooks — about 40 eager; torch.compile per block
  (``compile.enable``) fuses the elementwise chains into ~10 Triton kernels.
* HF ``LlamaDecoderLayer`` eager: similar to torchtitan's, about 45 with accelerate hooks.

TP communication overlap (``tp_overlap``):

* ``te``: Transformer Engine userbuffers (Megatron ``--tp-comm-overlap``): the sequence-parallel
  all-gather before QKV/fc1 and the reduce-scatter after proj/fc2 are split into ``tp`` chunks
  and pipelined with the GEMM chunks (ring exchange on copy engines); exposed is what exceeds
  the GEMM it hides under, plus one chunk (Wang et al. 2023, "Overlap communication with dependent
  computation via decomposition", ASPLOS; TE ``transformer_engine/pytorch/module/base.py``
  ``initialize_ub``).
* ``async_tp``: PyTorch async TP (torch._inductor micro-pipeline TP, enabled in torchtitan by
  ``parallelism.enable_async_tensor_parallel`` with torch.compile): the same decomposition into
  ``tp`` chunks, done with symmetric-memory copies.
* ``none``: TP collectives on NCCL, exposed -- except, in Megatron-Core, the backward's column-parallel
  ones, which its linears issue asynchronously under their own dgrad/wgrad GEMMs (``Stack.tp_bwd_async``).

The low-precision recipes (``RECIPES``, in ``LowPrecisionRecipe``'s docstring), Transformer Engine's amax reductions
and recompute paths, the attention kernels and the explicit softmax forms that the entries name by key are
planner.model.stack_kernels (split46b; it imports nothing of this module). What each stack's
launcher refuses to run (Megatron's FSDP2 with PP/EP, the MoE all-to-all overlap's limits, torchtitan EP
without FSDP ranks, ...) is one table next to this one, planner.model.stack_rules ``RULES``, keyed by the code
a stack runs (``stack_rules.RUNTIMES``).
"""
from __future__ import annotations

from collections import OrderedDict
import operator
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from hardware_catalog.errors import fit_message
from planner import defaults as D
from planner.errors import InputError
from planner.hardware.cuda_runtime import EAGER_CONTEXT_BYTES
from planner.vocab import (AUTO, ADAM_STATE_DTYPE, CP_COMM_TYPE, CUDA_GRAPH_IMPL, CUDA_GRAPH_SCOPE, CUDA_MODULE_LOADING,
                           FP8_RECIPE, FRAMEWORK, HYBRID_LAYER, MIXED_PRECISION, MOE_DISPATCHER,
                           MAIN_PARAMS_DTYPE, MOE_ONLY_OPTIONS, SELECTIVE_AC, TP_OVERLAP, ATTN_IMPLEMENTATION,
                           EXPERTS_IMPLEMENTATION, CE_FUSION, COMM_DATA_TYPE, LOSS_FN, PP_PARTITION_METHOD,
                           REMAT_LOCATION, REMAT_POLICY, REMAT_TENSOR, OFFLOAD_DEVICE, NVME_STRIPE)
from planner.model.optimizers import stack_for
from planner.model.stack_kernels import (EXPLICIT_SOFTMAX, EXPLICIT_SOFTMAX_RULES, MCORE_FUSED_SOFTMAX_KEYS, RECIPES,
                                        TE_AMAX_REDUCTIONS, TRITON_FA_HEAD_DIM_TILES, LowPrecisionRecipe)
from planner.spec.schema import TrainingSpec, has_shared_experts
# the default stack's rule lives in spec, where the job's validator names it too (planner.spec.training_stack)
from planner.spec.training_stack import default_stack_mode, default_stack_name  # noqa: F401

#: how each of Megatron-Core's ``--cp-comm-type`` values (planner.vocab ``CP_COMM_TYPE``, p2p first: its default) is
#: priced (``Stack.cp_kind``; planner.model.layer_ops ``cp_comm``)
CP_COMM_KINDS = {"p2p": "p2p", "all_gather": "te_allgather", "a2a": "te_a2a", "a2a+p2p": "te_a2a_p2p"}


def cp_comm_layers(value) -> str | tuple[str, ...]:
    """Megatron-Core's ``--cp-comm-type`` as the job gives it: one type (every layer), or a list, one type a decoder
    layer (megatron/training/arguments.py ``nargs='+'``: "If a single string is provided, all layers will share the
    same communication type. Users can also specify separated types for each layer"). A list of one entry is that
    type, as Megatron reads it (arguments.py ``core_transformer_config_from_args``: ``if len(args.cp_comm_type) == 1:
    kw_args['cp_comm_type'] = args.cp_comm_type[0]``); any longer list stays a tuple, one type a layer, its length
    checked against the model's layers by stack rule ``mcore-cp-comm-layers`` -- one type repeated too (QA 53: a
    uniform list of any length was read as that type, so ``[p2p, p2p]`` on a 32-layer model at CP16, which
    TransformerConfig refuses, was priced), though it prices as that type (``Stack.cp_kind``)."""
    if isinstance(value, str):
        return value
    value = tuple(value)
    return value[0] if len(value) == 1 else value


def _option_items(option: str, value) -> tuple:
    """The values a stack option's checks run on: each layer's type of a per-layer ``cp_comm_type``, else the value
    (none where unset)."""
    if value is None:
        return ()
    return value if option == "cp_comm_type" and isinstance(value, tuple) else (value,)


def cp_comm_mix(st, m=None) -> tuple[tuple[str, float], ...]:
    """(type, share of the layers that run it) of a Megatron-Core stack's ``cp_comm_type``, first seen first: one
    type ``((t, 1.0),)``; a per-layer list its types by their layer counts -- on a hybrid model (``m.hybrid_pattern``)
    among its attention layers ("*"), the only ones with a CP exchange (Megatron indexes the list by layer number,
    TransformerLayer / MambaLayer alike). () where the stack's CP exchange is fixed (``Stack.cp_exchange``)."""
    if not getattr(st, "cp_comm_types", ()):
        return ()
    types = st.cp_comm_type
    if isinstance(types, str):
        return ((types, 1.0),)
    pat = getattr(m, "hybrid_pattern", None) if m is not None else None
    if pat and len(pat) == len(types) and "*" in pat:
        types = tuple(x for x, k in zip(types, pat) if k == "*")
    return tuple((x, types.count(x) / len(types)) for x in dict.fromkeys(types))


#: ``Stack.for_model``'s entries, one per (entry, options given, MoE or dense), least recently used first; bounded
#: (``FOR_MODEL_KEPT``) because a long-lived process (the app) meets a new entry for each options set a user tries.
#: An entry dropped and met again is a new object: a search's LayerMemo then keeps one more setting, nothing wrong.
_FOR_MODEL: "OrderedDict[tuple, Stack]" = OrderedDict()
FOR_MODEL_KEPT = 4096


@dataclass(frozen=True)
class Stack:
    """One training stack with its options resolved. Field provenance in the module docstring
    and in each registry entry's ``sources``."""

    name: str
    sources: str = ""
    #: the platforms (planner.hardware.options ``PLATFORMS``) the stack's code runs on; each entry's are in
    #: ``RUNS_ON``, with sources. A job's accelerator must be one of them (``check_platform``)
    platforms: tuple[str, ...] = ("cuda",)
    layer_host_ops: float = 40.0  # host-dispatched ops per layer forward (eager)
    head_ops: float = 30.0  # embedding + final norm + logits + loss ops
    kernels_layer: float = 16.0  # GPU kernels per layer forward (launch tails)
    tp_ops: float = 2.0  # extra host ops per TP collective
    attn_rel: float = 1.0  # attention kernel speed relative to the one ``attn_kernel`` names
    #: head dims the flash kernels are built for, where the stack's kernel pads the model's head dim up to the next
    #: (physics.padded_head_dim): FlashAttention-1's ``FA1_HEAD_DIM_TILES``, the Triton flash kernel's
    #: ``TRITON_FA_HEAD_DIM_TILES`` (llm-foundry); () = a kernel for the exact head dim.
    #: Off in the registry; validate's open_reports rows that ran FA1 set it (validate.ROW_STACK_FIELDS)
    attn_hdim_tiles: tuple = ()
    #: the flash-attention kernel the stack calls (planner.model.physics.ATTN_KERNELS): TE's
    #: DotProductAttention picks cuDNN fused attention on Hopper/Blackwell; PyTorch SDPA's flash
    #: backend (torchtitan 2024, HF ``attn_implementation="sdpa"``) is FlashAttention-2;
    #: "prior" = the GPU's Efficiency.attn_* (measured by a calibration profile where one exists)
    attn_kernel: str = "prior"
    #: the ``attn_kernel`` values under which the stack's attention-sink models (gpt-oss: one learned logit per head)
    #: run the sinks as an eager rescale of the kernel's output, ``out * sigmoid(lse - w)`` in fp32 and a cast back
    #: (layer_ops.sink_rescale_bytes); () = the sinks inside the kernel's softmax (TE's ``softmax_type="learnable"``)
    #: or no such model path. Priced only on uncompiled blocks (``compile`` off): torch.compile fuses the four
    #: pointwise ops into one kernel (about one more read and write of the output, 2 act_b an element forward, not
    #: priced). Set by NeMo AutoModel's and torchtitan's FlexAttention paths (their entries give file and commit).
    #: Not set on the stacks that run HF transformers' model code: their gpt-oss attention is eager
    #: (``eager_sink_attention``, small32b)
    sink_rescale_kernels: tuple = ()
    #: the op order of that rescale (layer_ops.SINK_RESCALES): "fp32_product" (AutoModel: ``out * scale`` in fp32,
    #: cast back) or "scale_cast" (torchtitan: the scale cast to the output's dtype, a 16-bit product)
    sink_rescale_form: str = "fp32_product"
    #: the stack's multi-head latent attention joins q's and k's rotary and non-rotary parts with eager ``torch.cat``
    #: (layer_ops.mla_cat_bytes: the two joins forward, the split gradients' re-joins backward), where Megatron-Core's
    #: fused MLA RoPE kernels (``apply_rope_fusion``) write q and k once. Priced only on uncompiled blocks (``compile``
    #: off: torch.compile folds the joins into the kernels around them) of an MLA model (DeepSeek-V2/V3, Kimi K2).
    #: NeMo AutoModel (its DeepSeek-V3 ``MLA``); off elsewhere until a stack's own MLA code is read
    mla_eager_cat: bool = False
    #: packed rows attend per example (flops.attention_span): the stack hands its flash kernel each
    #: example's boundaries. Megatron-Core: ``PackedSeqParams`` (cu_seqlens, ``qkv_format="thd"``)
    #: into TEDotProductAttention (megatron/core/packed_seq_params.py; NeMo's packed SFT/PEFT
    #: datasets pass cu_seqlens, NeMo docs features/throughput_optimizations.rst); transformers:
    #: ``DataCollatorWithFlattening`` position_ids -> flash_attn_varlen_func
    #: (modeling_flash_attention_utils ``prepare_fa2_from_position_ids``; flash_attention_2 only:
    #: sdpa/eager attend over the whole row). torchtitan/llm-foundry/metaseq train causal over the
    #: whole row by default.
    doc_masking: bool = False
    #: the per-example masking of ``doc_masking`` holds at CP > 1 too. False for the HF Trainer: accelerate's torch
    #: context parallelism runs SDPA with no mask or a causal one only (accelerate docs/source/concept_guides/
    #: context_parallelism.md: "works only with SDPA and only with no mask or causal mask"), so packed rows at CP > 1
    #: attend over the whole row (flops.cp_attention_span). The deepspeed stack's ALST / Ulysses path passes
    #: position_ids to flash_attention_2 (the same guide's DeepSpeed section): kept
    doc_masking_cp: bool = True
    fused_norm_linear: bool = False  # TE LayerNormLinear: the norm's output never round-trips HBM
    #: the model code upcasts norms/RoPE to fp32 op by op (HF ``LlamaRMSNorm``, torchtitan's
    #: ``RMSNorm``/``apply_rotary_emb`` of 2024): one kernel per op unless compiled
    eager_fp32_ops: bool = False
    #: every biased ``nn.Linear`` adds its bias the pre-cuBLASLt way (torch <= 1.11, e.g. the NGC pytorch:21.11
    #: container's 1.11.0a0): ATen ``addmm_out_cuda_impl`` (aten/src/ATen/native/cuda/Blas.cpp of that era) first
    #: ``copy_``-s the bias, expanded to the output's shape, into the output, then runs the cuBLAS GEMM with beta 1,
    #: which reads it back -- one write and one read of each output element beyond the GEMM's own write
    #: (layer_ops ``addmm_bias_copy_bytes``). Later torch passes the bias to cublasLt as a GEMM epilogue
    #: (``useLtInterface``: no copy), which the registry's other stacks price. Set by DeepLearningExamples' BERT
    #: (``dle-bert``), whose TorchScript / NVFuser does not split its 3-D linears (the fuser's ``decomposeLinearOps``
    #: skips inputs of fewer than 4 dims: "lower rank linear eager is already fused")
    addmm_bias_copy: bool = False
    #: the residual branches' ``nn.Dropout`` runs inside the fused kernel of the add after it (TorchScript with
    #: NVFuser fuses the pointwise chain ``dropout(dense(x)) + residual``), so the eager HF code's own dropout pass
    #: (layer_ops ``eager_hf_layer_bytes``, a read and a write of the hidden a branch) is not paid in the forward;
    #: the backward keeps it (which gradient kernels the 21.11 fuser joined was not established)
    fused_residual_dropout: bool = False
    #: where its BERT code runs the MLM head and its loss (``training.head_tokens_per_seq``, the one rule
    #: planner.spec.params ``head_positions``): True, on the masked positions only -- DeepLearningExamples'
    #: PyTorch BERT (modeling.py ``BertForPreTraining.forward``: ``dense_sequence_output`` index_selects the rows whose
    #: label is not -1 before ``BertPreTrainingHeads``; run_pretraining.py ``--dense_sequence_output``); False, on
    #: every position -- transformers' ``BertForPreTraining`` / ``BertForMaskedLM`` (modeling_bert.py: ``self.cls(
    #: sequence_output)`` on the whole output, the labels' -100 ignored by the loss only) and Megatron-Core's
    #: ``BertModel`` (bert_model.py ``forward``: ``self.lm_head`` and ``self.output_layer`` on the whole encoder output,
    #: cpmem51) and the legacy Megatron-LM BERT (megatron/model/bert_model.py ``post_language_model_processing``:
    #: ``lm_head`` on the whole output, Megatron-DeepSpeed's copy the same; bert52), so such a stack refuses the field
    #: (stack_rules ``hf-head-positions``, ``mcore-head-positions``, ``megatron-lm-head-positions``); None,
    #: not read from the stack's code: the job's field is taken
    head_on_masked_positions: bool | None = None
    #: the ``EAGER_FP32_BYTES`` key of the model code's RoPE, priced on those uncompiled fp32 chains: "rope" (torchtitan's
    #: complex multiply, the registry's), "rope_rotation_matrix" (IBM foundation-model-stack's real 2 x 2 rotation,
    #: which IBM's fms-fsdp trains: validate's fms rows set it, compile47), "transformers" (the HF-code stacks: the
    #: family's own form, transformers' ``rotate_half`` one fp32 under autocast over fp32 weights: layer_ops
    #: ``eager_rope_bytes``, hf47)
    eager_rope: str = "rope"
    #: the fp8 copy of each weight is made once per step and reused by later micro-batches
    #: (TE ``is_first_microbatch``, passed by Megatron-Core's schedules)
    caches_fp8_weights: bool = False
    #: the linears are Transformer Engine modules (Megatron-Core's TE layer spec): under FP8 they
    #: keep their inputs for backward quantised (planner.model.activations.layer_saved_tensors)
    te_linears: bool = False
    #: the TP linears are Transformer Engine's own tensor-parallel modules, built with the TP group and the
    #: ``sequence_parallel`` flag (Megatron-Core's TE layer spec: megatron/core/extensions/transformer_engine.py
    #: ``TELayerNormColumnParallelLinear`` / ``TEColumnParallelLinear`` / ``TERowParallelLinear`` pass ``tp_group``,
    #: ``sequence_parallel=config.sequence_parallel`` and ``parallel_mode``), so under SP TE gathers their inputs and
    #: output gradients itself, quantised: a recipe with ``LowPrecisionRecipe.sp_amax_allreduce`` all-reduces each one's
    #: amax over TP first (layer_ops ``sp_amax_allreduces``). Off where TE linears run under another TP (NeMo
    #: AutoModel's DTensor plans pass no ``sequence_parallel`` to ``te.Linear``)
    te_tp_linears: bool = False
    #: the fp8 recipes under which the stack's sequence-parallel TP all-gathers carry the quantised tensor, at
    #: ``LowPrecisionRecipe.saved_bytes`` an element, instead of the 16-bit one (layer_ops ``sp_gather_bytes``): the
    #: forward gather of a column-parallel linear's input, the backward gather of a row-parallel linear's output
    #: gradient and the wgrad's re-gather of the saved input; the reduce-scatters stay 16-bit (the GEMM outputs).
    #: * Transformer Engine's TP modules (megatron-core): every TE recipe. TE 1.x (transformer_engine/pytorch/module/
    #:   linear.py @3ec87875 ``_Linear.forward``: ``cast_to_fp8`` then ``gather_along_first_dim(inputmat, tp_group)``
    #:   on the uint8 tensor, ``saved_inputmat = inputmat`` re-gathered in backward; layernorm_linear.py /
    #:   layernorm_mlp.py: the norm writes FP8 (``layernorm_fwd_fp8``) before the gather; base.py
    #:   ``grad_output_preprocess``: ``cast_to_fp8(grad_output_mat, ...)`` then ``gather_along_first_dim
    #:   (grad_output_c, ...)``) under delayed scaling; TE 2.x passes the recipe's quantiser to the gather
    #:   (``gather_along_first_dim(inputmat, tp_group, quantizer=input_quantizer)`` after ``input_quantizer.set_usage(
    #:   rowwise=True, columnwise=False)``; base.py ``gather_along_first_dim(grad_output, ctx.tp_group,
    #:   quantizer=quantizer)``), so delayed, current (tensorwise), MXFP8 (data + E8M0 scales), block-wise and NVFP4
    #:   gather their quantised row-wise copies. Userbuffers' TP overlap does the same: base.py ``initialize_ub``
    #:   ``fp8_buf = (name in layers_all_gather_overlap) or ...``, a uint8 buffer for every all-gather overlap under
    #:   FP8. Not priced apart: TE 2.3-2.5's ``_Linear`` gathered a block-wise input in 16 bits
    #:   (``force_hp_input_gather``, "TODO(kwyss): Support FP8 allgather for FP8 block quantization"); Megatron-Core's
    #:   QKV and fc1 are ``LayerNormLinear``, whose block-wise gather was quantised (``all_gather_usage``).
    #: * torchao float8 TP (torchtitan): tensorwise only. torchao/float8/float8_tensor_parallel.py
    #:   ``Float8ColwiseParallel._prepare_input_fn`` / ``PrepareFloat8ModuleInput`` cast to float8 before
    #:   ``redistribute`` (Shard -> Replicate: the all-gather), and ``Float8RowwiseParallel._prepare_output_fn`` puts
    #:   ``_NoopFwToFloat8BwDynamic`` after the output's redistribute, so backward casts the gradient to e5m2 before
    #:   its all-gather; torchtitan applies these plans only to tensorwise float8 (``enable_float8_tensorwise_tp``;
    #:   ``_float8_linear_supports_float8_allgather``: dynamic scaling); rowwise and MX run plain TP in 16 bits
    quantised_tp_gathers: tuple[str, ...] = ()
    #: the TP linears save the input they multiply, which under sequence parallelism is the all-gathered whole
    #: sequence, not the rank's shard (activations ``layer_activation_bytes`` ``gathered_tp_saves``): torch's DTensor
    #: plans (torchtitan llama3 parallelize.py ``apply_tp``: ``PrepareModuleInput(input_layouts=(Shard(1), None),
    #: desired_input_layouts=(Replicate(), None))`` on ``attention`` and ``feed_forward``, the gathered tensor handed
    #: to ``ColwiseParallel`` wq/wk/wv and w1/w3, whose ``aten.mm`` autograd saves it). Measured with
    #: ``saved_tensors_hooks`` on two gloo ranks under that plan (torch 2.13, fp8mem54; tests/op_sac_truth.py
    #: ``tp_saved_input_bytes``, stored in tests/data/op_sac_tp_truth.json): each column-parallel mm
    #: keeps the (tokens, h) gathered tensor, twice its SP shard at TP 2. Megatron-Core's own and TE's linears save
    #: the shard and re-gather it in backward (False). The LM head too where the stack plans it column-parallel
    #: behind a sequence-parallel norm (torchtitan ``"output": ColwiseParallel(input_layouts=Shard(1), ...)``, 16-bit
    #: under its float8 TP plans): activations ``logits_bytes`` ``gathered_head`` (mem55)
    tp_saves_gathered_inputs: bool = False
    #: how the stack enters Transformer Engine's ``fp8_autocast``, a key of ``TE_AMAX_REDUCTIONS`` ("" where it does
    #: not): which group its amax reduction runs over and how many times a pass (``AmaxReduction``). "megatron":
    #: megatron/core/fp8_utils.py ``get_fp8_context`` passes ``parallel_state.get_amax_reduction_group(
    #: with_context_parallel=True, tp_only_amax_red=config.tp_only_amax_red)``, by default
    #: ``_TENSOR_AND_DATA_PARALLEL_GROUP_WITH_CP``: the TP x CP x DP ranks of one pipeline stage (contiguous under
    #: the default ``tp-cp-ep-dp-pp`` rank order), and under delayed scaling TransformerBlock enters it once around
    #: the block (one region a model chunk). "composer" (llm-foundry) and "accelerate" (HF Trainer) pass no
    #: ``fp8_group``: TE then reduces over the default, world, group (amaxd46). A recipe with
    #: ``LowPrecisionRecipe.pass_amax_allreduce`` all-reduces the amaxes over that group (step_time
    #: ``pass_amax_allreduces``). Off for megatron-core-gaudi (Intel's TE over HCCL, not NCCL's latency model)
    te_amax_reduction: str = ""
    #: without TP comm overlap (``tp_overlap="none"``) the column-parallel linears' backward issues
    #: its TP collectives asynchronously under its own GEMMs: the SP input re-gather under the
    #: dgrad, the dgrad reduce-scatter / all-reduce under the wgrad (physics.tp_exposed_async_bwd:
    #: TE linear.py "Overlap input AG with dgrad", Megatron-Core
    #: LinearWithGradAccumulationAndAsyncCommunication). Off for the legacy megatron-lm and
    #: megatron-deepspeed stacks: Megatron-LM has had the async column all-reduce since late 2021
    #: (``--no-async-tensor-model-parallel-allreduce`` to disable), but which code the 2021-22 rows
    #: (nar21, kor22, MT-NLG, vTrain) ran is not established, and they are predicted within a few
    #: percent with every collective exposed; not applied rather than guessed
    tp_bwd_async: bool = False
    #: a device-wide ``torch.cuda.synchronize()`` at the start and end of each checkpointed layer's forward call
    #: and of its backward call (DeepSpeed's activation checkpoint with ``synchronize_checkpoint_boundary``:
    #: deepspeed/runtime/activation_checkpointing/checkpointing.py ``CheckpointFunction.forward`` / ``backward``,
    #: ``if SYNCHRONIZE: torch.cuda.synchronize()`` at both ends of each; GPT-NeoX's ``synchronize-each-layer``
    #: passes it, megatron/initialize.py ``deepspeed.checkpointing.configure(synchronize=...)``, and its
    #: PipelineModule checkpoints every ``checkpoint-num-layers`` = 1 layer with DeepSpeed's checkpoint). Only
    #: with full recompute. Off everywhere in the registry; validate's open_reports rows set it where the
    #: run's config does (validate.ROW_STACK_FIELDS; layer_ops.sync_idle prices it)
    sync_each_layer: bool = False
    #: DeepSpeed's activation checkpoint stores each checkpointed call's input partitioned over the TP group and
    #: re-gathers it in the backward (``PARTITION_ACTIVATIONS``: deepspeed/runtime/activation_checkpointing/
    #: checkpointing.py ``CheckpointFunction.forward`` clones the rank's ``narrow``-ed 1/mp slice of each tensor
    #: argument but the last, ``backward`` -> ``get_full_inputs`` builds a ``torch.zeros`` full-size buffer, copies
    #: the slice in and ``dist.all_gather``s the rest over the model-parallel group, in fp32 when the saved tensor is
    #: bf16, ``fp32_comm``), EleutherAI/DeeperSpeed @1622ff0f; GPT-NeoX's ``partition-activations`` passes it
    #: (``deepspeed.checkpointing.configure(partition_activations=...)``), Megatron-DeepSpeed's
    #: ``--partition-activations`` likewise (a job option there since ds46: ``has_ds_checkpointing``). Only with full
    #: recompute. Priced by layer_ops.partitioned_checkpoint_bytes and the TP all-gather in ``layer_ops.memory_bound``,
    #: and in memory by planner.model.activations ``layer_activation_bytes`` (``partition_tp``: the kept input's 1/tp
    #: slice; until ds46 the memory held it whole). Off everywhere in the registry; validate's open_reports Pythia rows
    #: set it (every Pythia config: ``"partition-activations": true``)
    partition_activations: bool = False
    #: GPT-NeoX's own attention code (megatron/model/transformer.py ``ParallelSelfAttention`` of the 2022-23 Pythia /
    #: NeoX-20B releases): its partial rotary splits q and k into ``[..., :rotary_ndims]`` / ``[..., rotary_ndims:]``
    #: slices and ``torch.cat``s them back, and its flash path copies q, k, v into ``[b * s, 1, np, hn]``
    #: (``transpose(0, 1).reshape``) and packs them with ``torch.concat`` for ``flash_attn_unpadded_qkvpacked_func``;
    #: priced by layer_ops.neox_attention_bytes. Off everywhere in the registry; validate's open_reports rows set it
    #: for the GPT-NeoX runs (validate.ROW_STACK_FIELDS)
    neox_attention: bool = False
    #: the longest key length Megatron's ``FusedScaleMaskSoftmax`` CUDA kernel takes on this stack's explicit (non-flash)
    #: attention; 0: the stack has no such kernel (its softmax priced as the fused default: ``layer_ops.SCORE_BYTES_*``,
    #: the 16-bit saved output of activations.layer_saved_tensors).
    #: Past it, or where the kernel's other constraints fail, the module runs its torch fallback
    #: (``stack_kernels.softmax_fallback``). microsoft/Megatron-DeepSpeed megatron/model/fused_softmax.py @0782d753
    #: ``custom_kernel_constraint = key_seq_len > 16 and key_seq_len <= 2048 and query_seq_len % 4 == 0 and
    #: attn_batch_size % 4 == 0``, Megatron-LM's legacy megatron/model/fused_softmax.py the same 2048; Megatron-Core
    #: 0.16.1 megatron/core/fusions/fused_softmax.py ``is_kernel_available`` ``16 < sk <= 4096``
    #: (stack_kernels.softmax_fallback reads it for the time and the saved fp32 softmax alike)
    fused_softmax_keys: int = 0
    #: what the stack's own code runs as the softmax of explicit (non-flash) attention: a key of ``EXPLICIT_SOFTMAX``
    #: (what it saves per score and the bytes and kernels it moves beyond a fused 16-bit softmax); "unread": a stack
    #: whose code is not read here; "transformers": the model's own code, per family (the HF-code stacks: activations_hf
    #: ``HF_EAGER_SOFTMAX``, priced by step_time where ``attn_implementation`` is "eager"; on this module's table, the
    #: Megatron-table pieces, it reads as "unread"). A stack with ``fused_softmax_keys`` runs Megatron's rule whatever
    #: this says
    explicit_softmax: str = "unread"
    #: the gated MLP's activation is one fused op that saves only its input (Megatron-Core
    #: ``bias_activation_fusion``: fusions/fused_bias_swiglu.py), set by NeMo/Megatron-Bridge configs
    fused_glu: bool = False
    #: bytes per parameter the GPU holds for the weights under FP8 with a separate master copy
    #: (``weights: megatron``); None = planner.model.memory.PRECISION_CONVENTIONS (16-bit weights +
    #: one cached FP8 copy). Megatron-Core as NeMo 2 / Megatron-Bridge configure it: the FP8
    #: precision configs set ``fp8_param_gather=True`` (Megatron-Bridge training/mixed_precision.py
    #: ``bf16_with_fp8_current_scaling_mixed``, ``bf16_with_fp8_delayed_scaling_mixed``; NeMo
    #: recipes/precision/mixed_precision.py the same), so the TE weights *are* FP8 tensors (1 byte)
    #: with the transposed copy TE caches for the backward GEMM on Hopper (1 byte; none on Blackwell under the
    #: per-tensor recipes: ``fp8_linear_weight_bytes``), no 16-bit copy
    #: (embeddings and norms stay 16-bit: 2 bytes as well): 2. torchtitan (torchao
    #: ``convert_to_float8_training``): the parameters stay 16-bit and each forward casts them
    #: anew (no persistent FP8 copy): 2.
    fp8_weight_bytes: float | None = None
    #: ``fp8_weight_bytes`` is Megatron-Core's ``--fp8-param-gather`` storage, which holds only where that flag can be
    #: on (``fp8_param_gather_on``): Megatron-LM validate_args allows it "only with distributed optimizer, torch fsdp2,
    #: megatron fsdp" (ZeRO >= 1), and the NVFP4 path leaves it off (Megatron-Bridge training/mixed_precision.py
    #: ``bf16_with_nvfp4_mixed``: ``fp8_param_gather = False``; the emitted launch likewise). Elsewhere the GPU
    #: holds the 16-bit weights and TE's cached low-precision copy (memory.PRECISION_CONVENTIONS ``("fp8",
    #: "megatron")``). False: ``fp8_weight_bytes`` holds at every ZeRO stage and recipe (torchtitan's 16-bit params)
    #: where the storage does not hang on the flag (stack_kernels ``fp8_weights_as_stored``: no TE linears), the
    #: flag left off on a stack where it does: the job option ``fp8_param_gather: false`` (``OPTION_HOLDERS``), a
    #: launch without ``--fp8-param-gather`` (Megatron-LM arguments.py: store_true, default off) -- Primus's
    #: trainer_base.yaml (``fp8_param_gather: false``) and ROCm Megatron-LM's train_llama3.sh (no such flag), whose
    #: runs (validate.mi300x) print it False; the GPU then holds 16-bit weights and TE's cached FP8 copy and the
    #: distributed optimizer / FSDP2 gather 16-bit parameters, as at ZeRO-0 (mi30053)
    fp8_param_gather: bool = False
    #: torchtitan's ``enable_fsdp_float8_all_gather`` with ``precompute_float8_dynamic_scale_for_fsdp`` (both default
    #: False; torchtitan/components/quantization/float8.py @ce5ace24 and main's ``Float8LinearConverter.Config``):
    #: torchao wraps each float8 linear's weight in ``WeightWithDynamicFloat8CastTensor``, whose
    #: ``fsdp_pre_all_gather`` casts the local shard to float8 with a tensorwise scale, so FSDP2 all-gathers those
    #: weights at 1 B and the gathered weights are float8 (``fsdp_post_all_gather``); the scales come from one amax
    #: all-reduce after each optimizer step (torchao/float8/fsdp_utils.py ``precompute_float8_dynamic_scale_for_fsdp``).
    #: Only on the tensorwise path (the converter asserts against it with a ``recipe_name``) and only where FSDP shards
    #: (``parallel_dims.dp_shard_enabled and ...``): stack_kernels ``fsdp_float8_gather_on``
    fsdp_float8_all_gather: bool = False
    #: ZeRO-3 parameters per gather/reduce-scatter collective; None = one per transformer block
    #: (FSDP/FSDP2 wrap per block). DeepSpeed: ``stage3_prefetch_bucket_size`` default 5e7
    #: (deepspeed/runtime/zero/config.py)
    zero3_bucket_params: float | None = None
    #: DeepSpeed ZeRO-3's ``stage3_max_live_parameters``: the gathered (16-bit, whole) parameter elements a rank
    #: holds at once, the window its prefetch fills (planner.model.memory ``ds_zero3_live_elems``); None: the stack
    #: gathers per block, the block in use and one prefetched (FSDP / FSDP2 / Megatron-FSDP's own rules).
    #: DeepSpeed's default 1e9 (deepspeed/runtime/zero/config.py ``max_live_parameters``)
    zero3_max_live_params: float | None = None
    #: DeepSpeed ZeRO-3's ``stage3_param_persistence_threshold``: parameters of at most this many elements are
    #: not partitioned, every rank keeps them whole (deepspeed/runtime/zero/config.py ``param_persistence_threshold``,
    #: default 1e5; partition_parameters.py ``ds_persist``). 0: none
    zero3_persistence_params: float = 0.0
    #: context-parallel K/V exchange: "p2p" ring overlapped with the attention of the previous
    #: chunk (Megatron-Core ``cp_comm_type="p2p"``, its default) or "allgather" before the
    #: kernel, exposed (PyTorch ``context_parallel`` with torchtitan's 2024 default
    #: ``context_parallel_rotate_method = "allgather"``) or "a2a": DeepSpeed-Ulysses / ALST, the sequence
    #: re-split over heads by all-to-alls of q, k, v and the output, exposed, one kernel over the whole sequence on
    #: heads / cp (deepspeed/runtime/sequence_parallel/ulysses_sp.py ``UlyssesSPAttentionHF``)
    cp_exchange: str = "p2p"  # said in the stack line at CP > 1 (CP_EXCHANGE_WORDS)
    #: Megatron-Core's ``--cp-comm-type`` (TransformerConfig.cp_comm_type, passed to TE DotProductAttention; None there
    #: is TE's "p2p"), read where the stack offers it (``cp_comm_types``): "p2p" (AttnFuncWithCPAndKVP2P, the ring),
    #: "all_gather" (AttnFuncWithCPAndKVAllGather), "a2a" (AttnFuncWithCPAndQKVOA2A, Ulysses) or "a2a+p2p" (the ring
    #: over CP groups of a2a inside the node, ``--hierarchical-context-parallel-sizes``); ``cp_kind`` is what prices it.
    #: A tuple: one type per decoder layer (Megatron's ``--cp-comm-type p2p p2p a2a ...``, TransformerConfig asserting
    #: "Length of cp_comm_type ... should equal to the total number of transformer layers"), each layer priced at its
    #: own type (``cp_comm_mix``); a one-entry list is that type, a longer list a tuple of its length, one type
    #: repeated priced as that type (``cp_comm_layers``)
    cp_comm_type: str | tuple[str, ...] = "p2p"
    #: the ``cp_comm_type`` values the stack's CP offers (the option's holders): Megatron-Core's four; () elsewhere
    cp_comm_types: tuple[str, ...] = ()
    #: Megatron-Core's precision-aware optimizer (``--use-precision-aware-optimizer``) and the dtypes of Adam's moments
    #: and master weights it keeps (``--exp-avg-dtype``, ``--exp-avg-sq-dtype``, ``--main-params-dtype``): priced by
    #: planner.model.optimizers ``precision_aware`` (memory and the optimizer step), refused where Megatron refuses it
    #: (stack_rules ``mcore-pa-*``)
    precision_aware_optimizer: bool = False
    exp_avg_dtype: str = "fp32"
    exp_avg_sq_dtype: str = "fp32"
    main_params_dtype: str = "fp32"
    #: how the hybrid models' Mamba-2 mixer calls mamba_ssm's fused ``mamba_split_conv1d_scan_combined``
    #: (planner.model.ssm ``MAMBA_CALLS``): "megatron" (Megatron-Core's MambaMixer: z gates inside the scan, the group
    #: norm outside, (l b d) layout copies) or "hf" (Hugging Face / NeMo AutoModel: the norm and out_proj weights
    #: passed to the kernel, the (b l d) layout)
    mamba_call: str = "megatron"
    #: the local experts' GEMMs run as one grouped GEMM per projection (Megatron-Core
    #: ``--moe-grouped-gemm``: TEGroupedMLP / GroupedMLP in megatron/core/transformer/moe/experts.py):
    #: a few host ops per MoE layer; otherwise one GEMM launch per local expert (SequentialMLP,
    #: HF/torchtitan loops over experts)
    moe_grouped_gemm: bool = False
    #: the MoE block is Megatron-Core's MoELayer (router, MoEAlltoAll / MoEFlex token dispatcher, TEGroupedMLP): the
    #: host ops it dispatches past the dispatcher's device-to-host sync (planner.model.moe ``post_sync_host_ops``) are
    #: GPU idle where they outlast the GPU work past the sync (``post_sync_exposed_s``)
    moe_megatron_layer: bool = False
    #: the MoE layer is Megatron-LM 2021-22's SwitchMLP (megatron/model/transformer.py): top-1, a Python loop over the
    #: experts gathering and scattering their rows by index, one device-to-host sync each, no token dispatcher
    #: (planner.model.moe ``switch_mlp_layer``)
    moe_switch_mlp: bool = False
    #: the activation (and its gradient) sent between pipeline stages is split across the TP
    #: ranks, each sending 1/tp, and all-gathered over NVLink on the receiving stage: Megatron-LM's
    #: scatter/gather optimisation (Narayanan et al. 2021 §4.1, ``--scatter-gather-tensors-in-pipeline``,
    #: on by default) and DeepSpeed's pipeline engine (deepspeed/runtime/pipe/engine.py
    #: ``is_pipe_partitioned = is_model_parallel``, PartitionedTensor). Sequence parallelism splits
    #: it anyway.
    pp_scatter_gather: bool = False
    #: the interleaved schedule's stage-to-stage sends run asynchronously under the next chunk's
    #: compute (Megatron-Core ``ModelParallelConfig.overlap_p2p_comm``: "some of the peer to peer
    #: communication for pipeline parallelism will overlap with computation"; Megatron-LM turns
    #: it on with a virtual pipeline, ``--no-overlap-p2p-communication`` to disable): exposed in the steady state
    #: only past a chunk's forward (pipeline.overlapped_sends_exposed); the forward-only warm-up and backward-only
    #: cool-down still wait for theirs (pipeline.fill_exposure, step_time ``pp_fill``)
    overlap_p2p: bool = False
    #: grouped-query K/V heads are expanded to the query heads before the attention call, so
    #: context parallelism exchanges the expanded K/V (torchtitan 2024 ``Attention.forward``:
    #: ``keys = repeat_kv(xk, self.n_rep)`` before SDPA; HF ``LlamaAttention`` likewise);
    #: TE's DotProductAttention takes the grouped heads as they are
    repeats_kv_heads: bool = False
    #: the CP attention is PyTorch's ``context_parallel`` ring (torch.distributed.tensor.experimental ``_attention``:
    #: ``_templated_ring_attention`` and its backward over the ``_AllGatherRotater``): its K/V, gradient and
    #: accumulator buffers are a transient inside one layer's attention (activations ``cp_torch_ring_transient``).
    #: torchtitan's ``apply_cp``. The HF Trainer's accelerate CP is torch's ``context_parallel`` too, its K/V at the
    #: grouped heads (transformers' integrations/sdpa_attention.py ``use_gqa_in_sdpa``: ``enable_gqa=True`` where the
    #: mask is None, the causal-only mask CP takes): its table's and walked step's rows take the ring at the fused
    #: kernel's backward (memory_activations ``hf_ring_backward``; hfcp54, left by mem54b)
    torch_cp_ring: bool = False
    #: its pipeline schedules are torch.distributed.pipelining's, whose stages keep one gradient and one forward
    #: receive buffer per micro-batch all step (memory_stages ``grad_recv_buffers``, ``fwd_recv_buffers``):
    #: torchtitan's ``build_pipeline_schedule``; NeMo AutoModel's ``AutoPipeline`` (components/distributed/pipelining/
    #: functional.py builds ``torch.distributed.pipelining.PipelineStage`` and torch's schedule classes)
    pp_recv_per_microbatch: bool = False
    #: bytes per logit (of the rank's vocabulary shard) of each micro-batch's model output that torch.distributed.
    #: pipelining's last stage keeps until the next step (memory_activations ``pp_kept_outputs``): ``forward_one_chunk``
    #: appends every last-stage output to ``output_chunks`` (the 2024 code on every forward; later on the last
    #: stage unless ``step(return_outputs=False)``, default True; torch 2.13 so), which ``PipelineScheduleSingle.step`` merges for its return value and
    #: only the next step's ``clear_runtime_states`` empties: at the last micro-batch's loss every micro-batch's output
    #: is alive (tests/make_pp_outputs_truth.py, mem57). 0 on every stack, checked against the current code (mem57c):
    #: torchtitan's trainer.py ``forward_backward_step`` calls ``pp_schedule.step(..., return_outputs=False)`` on every
    #: stage (pytorch/torchtitan#1922, 2025-10-21, on torch's pytorch/pytorch#165822), NeMo AutoModel's engine runs
    #: ``AutoPipeline.step_microbatches`` (components/distributed/pipelining/autopipeline.py, ``return_outputs=False``
    #: its default, passed where torch's ``step`` takes it); their older recipes (torchtitan train.py before #1922,
    #: AutoModel's train_ft.py ``schedule.step(...)``) kept them. benchmarks/validate_memory.py sets 4 on torchtitan
    #: 2024-12 (``TITAN_PP_OUTPUTS``: its model returns ``self.output(h).float()``, train.py calls ``pp_schedule.step``
    #: on torch 1963fc8, before ``return_outputs``). The same switch makes ``step`` merge them (``_merge_outputs``' new
    #: ``torch.cat`` after the last backward): the last rank's merge moment (memory ``pp_merge_parts``, mem58)
    pp_kept_output_bytes: float = 0.0
    #: weight gradients of each micro-batch are added to the step's accumulated gradients by a
    #: separate elementwise pass over the stage's parameters (PyTorch autograd ``AccumulateGrad``:
    #: ``variable.grad += new_grad``, torch/csrc/autograd/functions/accumulate_grad.h; DeepSpeed's
    #: engine leaves accumulation to autograd and reduces once at the boundary,
    #: deepspeed/runtime/engine.py ``is_gradient_accumulation_boundary``): read the accumulator and
    #: the new gradient, write the accumulator (step_time.grad_accum_bytes). Megatron-Core/TE fuse it
    #: into the wgrad GEMM (``fuse_wgrad_accumulation``, Megatron ``--gradient-accumulation-fusion``);
    #: FSDP stacks accumulate the 1/dp shard only
    grad_accum_pass: bool = False
    #: the unfused accumulation adds each micro-batch's ``.grad`` into a separate buffer, zeroed at the step's start,
    #: so the first micro-batch pays it too (planner.model.step_time ``grad_accum_pass``): Megatron's ``main_grad``
    #: (Megatron-Core distributed_data_parallel.py ``_make_backward_post_hook``: ``param.main_grad.add_(param.grad.data)``
    #: then ``param.grad = None``, every micro-batch, ``zero_grad_buffer`` before the first; legacy Megatron-LM's
    #: megatron/model/distributed.py ``_make_param_hook`` the same). Not Megatron-DeepSpeed: its megatron/training.py
    #: ``get_model`` returns the model before the ``LocalDDP`` wrap ``if args.deepspeed``, so no ``main_grad``
    #: exists and autograd accumulates into ``.grad``, which the engine's ``zero_grad`` (``param.grad = None``) leaves
    #: for the first micro-batch to take
    main_grad_buffer: bool = False
    #: full recompute runs PyTorch's non-reentrant ``torch.utils.checkpoint`` (torch >= 2.0), which
    #: stops re-running the layer once the last tensor its backward reads has been saved again
    #: (torch/utils/checkpoint.py ``_recomputation_hook.pack_hook`` raises
    #: ``_StopRecomputationError`` when ``recomp_counter`` reaches the number saved in forward;
    #: torch 2.1+: ``set_checkpoint_early_stop``, on by default). Autograd saves an op's inputs
    #: before the op runs (tools/autograd/gen_variable_type.py: ``setup_derivative`` precedes
    #: ``emit_call``), so the MLP down projection, whose output no backward reads, is not
    #: recomputed. torch.compile's partitioner recomputes only what the backward reads too.
    #: Reentrant checkpoints (Megatron ``CheckpointFunction``, DeepSpeed, TE) re-run it all, as
    #: does torch 1.13's non-reentrant one (``_checkpoint_without_reentrant`` calls the whole
    #: function on the first unpack). On for llm-foundry: Composer wraps each MPT block in
    #: ``checkpoint_wrapper`` and the benchmark script sets ``activation_checkpointing_reentrant:
    #: False`` (scripts/train/benchmarking/submit_benchmarks.py ``mod_parameters``). Off for
    #: torchtitan: its ``ptd_checkpoint_wrapper`` call passes ``early_stop=ac_config.early_stop``,
    #: default False (torchtitan config ``ActivationCheckpoint.early_stop``). On for hf-trainer (hf47): transformers 5
    #: checkpoints non-reentrant (``use_reentrant``) and passes torch nothing that turns early stop off; off, the
    #: default given way, under ``use_reentrant: true``.
    recompute_early_stop: bool = False
    #: its activation checkpointing is PyTorch's non-reentrant ``torch.utils.checkpoint``, the only
    #: checkpoint with early stop (torchtitan ``ptd_checkpoint_wrapper``, Composer
    #: ``checkpoint_wrapper``, FSDP, HF Trainer with ``use_reentrant: False``); Megatron's
    #: ``CheckpointFunction``, DeepSpeed's and TE's are reentrant: ``recompute_early_stop`` is refused
    torch_checkpoint: bool = False
    #: transformers' ``gradient_checkpointing_kwargs`` ``use_reentrant`` (None: the stack does not checkpoint through
    #: ``PreTrainedModel.gradient_checkpointing_enable``). With no kwargs (TrainingArguments'
    #: ``gradient_checkpointing_kwargs`` defaults to None) transformers 4.x passes ``{"use_reentrant": True}`` (PR
    #: #28538, 2024-01; 4.35 / 4.36 passed ``{}``, torch's own default True: issue #28536) and 5.x
    #: ``{"use_reentrant": False}`` (PR #43203, 2026-01): the registry's hf-trainer is today's, False. True: torch's
    #: reentrant ``CheckpointFunction`` -- no early stop (``recompute_early_stop`` refused), and TE fp8 layers re-run
    #: and back-propagate 16-bit instead of raising ``CheckpointError`` (stack_kernels ``TeRecompute.reentrant``,
    #: hfckpt47)
    use_reentrant: bool | None = None
    #: how the stack computes its cross-entropy (planner.model.activations.LOSS_TRANSIENT_BYTES: what
    #: the loss holds at its peak): Megatron's in-place vocab-parallel cross-entropy (the Megatron
    #: stacks; metaseq's ``vocab_parallel_cross_entropy`` criterion calls Megatron's legacy mpu one on
    #: ``net_output[0].float()``); torchtitan: eager ``F.cross_entropy`` on the model's fp32 logits, DTensor
    #: loss parallel under TP; llm-foundry: MPT's default ``fused_crossentropy`` (flash-attn's fused kernel on the
    #: 16-bit logits) with Composer holding the model output through ``backward`` ("xentropy_held"; the torch loss
    #: held so, "cast_ce_held", is NeMo AutoModel's figure too); the rest: an upcast ``F.cross_entropy`` with the
    #: logits dropped before ``backward``
    loss: str = "cast_ce"
    #: its training loop keeps the model's output (the logits; on transformers' code also ``past_key_values``, the
    #: DynamicCache) referenced through ``backward``. Read by the walked HF step (the stacks that run transformers'
    #: model code, ``mixed_precision`` set: planner.model.activations_hf ``hf_step_memory``'s ``output_held``) and by
    #: the logits term of the other stacks (memory_activations ``loss_logits``): every loss's buffers are freed before the last
    #: layer's rebuild, but the logits the loop holds stay beside it (losspeak38). True on llm-foundry (Composer's
    #: composer/trainer/trainer.py ``_train_microbatch`` keeps ``self.state.outputs`` through the backward) and
    #: nemo-automodel (recipes/llm/train_ft.py ``_forward_backward_step``: ``out = model(**batch)`` in the backward's
    #: scope); the loss codes price the held logits at the loss ("xentropy_held", "masked_ce", ...). False on
    #: hf-trainer and deepspeed: HF Trainer's ``compute_loss`` returns the loss alone and ``training_step`` then calls
    #: ``accelerator.backward(loss)`` (transformers trainer.py; the DeepSpeed engine's backward through the same
    #: ``training_step``), so the output is freed before the backward (hfloss37; until then the walk held it, as the
    #: harness whose runs it is checked against does: tests/test_hf_memory.py); False on the Megatron family
    #: (``GPTModel.forward`` returns the loss alone when given labels), torchtitan (train.py ``del pred``) and MaxText
    loop_holds_output: bool = False
    #: its training loop's ``zero_grad`` after the optimizer step frees the ``.grad`` tensors (``set_to_none``), so a
    #: step of one micro-batch starts its forward without them. True for today's stacks: torch 2.0 made
    #: ``set_to_none=True`` the default of ``Module.zero_grad`` / ``Optimizer.zero_grad`` (pytorch/pytorch#92731,
    #: BC-breaking; 1.13's ``module.zero_grad()`` left zero tensors) and transformers' Trainer passes it on any torch
    #: since huggingface/transformers#22136 (merged 2023-03-13: ``model.zero_grad(set_to_none=True)`` in
    #: ``_inner_training_loop``). False: an HF Trainer before that on torch < 2.0 (e.g. transformers 4.16 / torch 1.10,
    #: 2022: trainer.py ``train`` calls ``model.zero_grad()`` after ``self.lr_scheduler.step()``), whose zeroed
    #: ``.grad`` tensors persist through every forward as at an accumulation step (memory ``zero_stage_states``:
    #: ``KEPT_PERSIST`` where the stack's ``.grad`` would be ``KEPT_ACCUMULATED``; bertmem50). Not a job option:
    #: set where a source's versions say so (benchmarks/validate_memory.py ``HF_ZERO_GRAD_KEEPS``)
    zero_grad_frees: bool = True
    #: its torch (< 1.11) keeps each softmax's input for the backward beside the output: ``SoftmaxBackward`` saved
    #: ``self`` for ``_softmax_backward_data(grad_output, output, dim, self)`` until pytorch/pytorch#65242 passed the
    #: input's dtype (torch 1.11; transformers pytorch_utils.py ``softmax_backward_data`` branches on it). The HF
    #: model code's eager attention then keeps one more score-sized tensor a layer (activations_hf
    #: ``HFPrecision.softmax_input``: BERT-large at 512 tokens, 16 MiB a sequence and layer in fp32, +23% of its
    #: activations; bert52). Not a job option: set where a source's versions say so (benchmarks/validate_memory.py
    #: ``HF_SOFTMAX_KEEPS_INPUT``)
    softmax_keeps_input: bool = False
    #: how its CUDA runtime loads kernel modules (planner.vocab ``CUDA_MODULE_LOADING``): "lazy" for today's stacks
    #: (CUDA 11.7+ loads a kernel at first use under ``CUDA_MODULE_LOADING=LAZY``, which torch sets since 1.13:
    #: pytorch/pytorch#86509); "eager" for a run on CUDA < 11.7 or torch < 1.13 (e.g. torch 1.10, 2022), whose
    #: context holds every module of every library: planner.model.memory ``runtime_reserve`` charges
    #: ``EAGER_CONTEXT_BYTES`` (1.32 GiB) in place of today's context (0.75 GiB; bert53). A job option
    #: (``training.framework.cuda_module_loading``) and set where a source's versions say so
    #: (benchmarks/validate_memory.py ``HF_EAGER_MODULES``)
    cuda_module_loading: str = "lazy"
    #: the loss upcasts the whole logits to fp32 before its cross-entropy: NeMo AutoModel's
    #: ``MaskedCrossEntropy(fp32_upcast=...)`` (nemo_automodel/components/loss/masked_ce.py, default True; the
    #: ``loss_fn.fp32_upcast`` key of a recipe's YAML, false in its benchmark configs). Off, the stack's loss code is
    #: ``loss`` + "_16bit" (activations.LOSS_TRANSIENT_BYTES); read only where the stack has that switch
    #: (``loss == "masked_ce"``)
    ce_fp32_upcast: bool = True
    #: the loss class a NeMo AutoModel recipe's ``loss_fn`` names (planner.vocab ``LOSS_FN``; read only where ``loss ==
    #: "masked_ce"``): "masked_ce" ``MaskedCrossEntropy`` (the recipes' and benchmark configs' choice),
    #: "masked_ce_chunked" the same with ``chunk_size`` (``ce_chunk_size``), "linear_ce" ``FusedLinearCrossEntropy``
    #: (Cut Cross-Entropy), "te_parallel_ce" ``TEParallelCrossEntropy``; each its own ``LOSS_TRANSIENT_BYTES`` code
    loss_fn: str = "masked_ce"
    #: ``MaskedCrossEntropy(chunk_size=...)``: the rows the chunked loss upcasts at a time (no default in AutoModel:
    #: required with loss_fn "masked_ce_chunked", refused with the others)
    ce_chunk_size: int | None = None
    #: the loss is Megatron's vocab-parallel cross-entropy run unfused on an fp32 copy of the logits, as the
    #: 2021-23 Megatron-LM / Megatron-DeepSpeed / GPT-NeoX training scripts call it (``vocab_parallel_cross_entropy(
    #: output.float(), labels)`` unless ``--fp16-lm-cross-entropy``; megatron/mpu/cross_entropy.py
    #: ``_VocabParallelCrossEntropy``): one HBM pass per step of it (layer_ops.cross_entropy_bytes). Megatron-Core
    #: as NeMo / Megatron-Bridge configure it sets ``cross_entropy_loss_fusion`` (the fused loss): off there; its
    #: unfused path is ``cross_entropy_fusion`` "none" (``ce_runs_unfused``)
    ce_unfused: bool = False
    #: Megatron-Core's loss kernel (tece37), "" where the stack has no such choice: "none" (no
    #: ``--cross-entropy-loss-fusion``: tensor_parallel.vocab_parallel_cross_entropy, the same op sequence as the
    #: legacy one: ``ce_unfused``'s pricing), "native" (``--cross-entropy-loss-fusion``, ``--cross-entropy-fusion-impl
    #: native``: megatron/core/fusions/fused_cross_entropy.py, the same steps compiled: "megatron_ce_fused"), "te"
    #: (``--cross-entropy-fusion-impl te``: TE's ``parallel_cross_entropy``, "te_parallel_ce"). Which runs:
    #: language_module.py ``compute_language_model_loss`` (core 0.16.1). Megatron-Core's own defaults are fusion off,
    #: impl native (model_parallel_config.py ``cross_entropy_loss_fusion: bool = False``, ``cross_entropy_fusion_impl
    #: = 'native'``); the registry entry is "native", what it priced before the option (NeMo / Megatron-Bridge's
    #: providers turn the fusion on)
    cross_entropy_fusion: str = ""
    #: the ``cross_entropy_fusion`` values the stack's code offers (planner.vocab ``CE_FUSION``)
    ce_fusions: tuple[str, ...] = ()
    #: the launcher pads the vocabulary to a multiple of this x TP before building the model (Megatron-LM
    #: ``--make-vocab-size-divisible-by``, default 128: megatron/training/tokenizer/tokenizer.py
    #: ``_vocab_size_with_padding``); 0: the model's own vocabulary (HF code, torchtitan). The advice to pad
    #: the vocabulary is moot where it is set (search/explain.advice)
    vocab_pad: int = 0
    #: the loss runs under torch.compile when ``compile`` is on (``loss`` + "_compiled" in
    #: activations.LOSS_TRANSIENT_BYTES): torchtitan compiles its cross-entropy with the model since PR #1033
    #: (merged 2025-04-01, ``build_loss_fn``; later ``compile.components``, default model and loss)
    loss_compiles: bool = False
    #: under pipeline parallelism its FSDP keeps each stage's 16-bit weights gathered for the whole step
    #: and accumulates unsharded gradients over the micro-batches (planner.model.memory: torchtitan's
    #: ``apply_fsdp`` sets ``reshard_after_forward=False`` "for PP"; torch.distributed.pipelining
    #: ``backward_maybe_with_nosync`` disables gradient sync and reshard until the last backward)
    pp_fsdp_unsharded: bool = False
    #: under pipeline parallelism its FSDP's reshard after forward, whatever the ``reshard_after_forward`` option
    #: (None: the option as set): False on torchtitan, whose ``fsdp_reshard_after_forward: default`` policy is
    #: ``reshard_after_forward = not pp_enabled`` (``apply_fsdp``) and which planner.present.emit launches as
    #: ``never`` under PP. NeMo AutoModel's ``apply_fsdp`` passes its ``reshard_after_forward`` through with or
    #: without PP: resharded after forward, a stage of a ``pp_fsdp_unsharded`` stack is gathered again in every
    #: micro-batch's backward (pipelining's ``backward_maybe_with_nosync`` skips the reshard after backward, so the
    #: next forward finds it gathered), in each warm-up forward, and reduce-scattered once, at the last backward
    #: (planner.model.step_time ``compose_step``). Its dense path does the same under PP: ``FSDP2Config.
    #: reshard_after_forward`` (default None) reaches distributed/parallelizer.py ``apply_fsdp2_sharding_recursively``,
    #: where None keeps every block gathered under PP ("With PP: keep weights gathered across microbatches") and True
    #: forces resharding "everywhere, including pipeline-parallel layers" (config.py docstring; read 2026-12-05)
    pp_reshard_after_forward: bool | None = None
    #: without pipeline parallelism, its FSDP2 skips the reduce-scatter and the reshard after backward of every
    #: micro-batch but the last (``set_requires_gradient_sync(False)``, ``set_reshard_after_backward(False)``) and
    #: accumulates unsharded gradients: NeMo AutoModel's ``BackendConfig.enable_fsdp_optimizations`` (default
    #: False), nemo_automodel/components/moe/fsdp_mixin.py ``MoEFSDPSyncMixin.prepare_for_grad_accumulation`` /
    #: ``prepare_for_final_backward``, called around the micro-batches by recipes/llm/benchmark.py and train_ft.py.
    #: Without reshard after forward the stage's weights stay gathered from the first forward to the step's end and
    #: its gradients are reduce-scattered once, as ``pp_fsdp_unsharded`` (planner.model.step_time); with it, each
    #: micro-batch gathers once (its backward's; the next forward finds the weights still gathered)
    fsdp_defer_sync: bool = False
    #: the stack offers ``fsdp_defer_sync`` (NeMo AutoModel's MoE models: ``MoEFSDPSyncMixin``) and
    #: ``defer_fsdp_grad_sync``
    has_fsdp_defer_sync: bool = False
    #: without pipeline parallelism, its training loop turns FSDP2's gradient sync off for every micro-batch but the
    #: last and leaves the reshard alone: the reduce-scatter runs once per step, in the last backward, the gathers
    #: stay per micro-batch (one, or two with reshard after forward), and the unsharded gradients accumulate in the
    #: reduce dtype until then (FSDPParam ``to_accumulated_grad_if_needed``). NeMo AutoModel: train_ft.py
    #: ``_forward_backward_step`` (the benchmark recipe's too) wraps each micro-batch in components/distributed/
    #: utils.py ``get_sync_ctx(model, idx == num_batches - 1)``, which calls ``model.set_requires_gradient_sync(
    #: is_last)`` on the root FSDPModule (moe/parallelizer.py ``apply_fsdp`` wraps the outer model,
    #: ``wrap_outer_model=True``; the dense parallelizer shards the root) -- unconditionally in the 2025 versions,
    #: since then behind ``FSDP2Config.defer_fsdp_grad_sync`` (default True). A config sets it False where the
    #: unsharded gradients do not fit: examples/llm_pretrain/llama3_1_70b_pretrain_benchmark_8nodes_tp1cp2pp1.yaml
    #: ("Must be False with GA>1: True -> ... OOM"). Under PP pipelining's own hooks decide (``pp_fsdp_unsharded``);
    #: with ``fsdp_defer_sync`` the reshard after backward is deferred too (that option's terms). The HF Trainer's
    #: loop does the same under accelerate's FSDP2 and FSDP1's ``no_sync`` under FSDP1 unless the job sets
    #: ``sync_each_batch`` (this option off): ``_with_fsdp_version`` resolves it per FSDP version (hffsdp56)
    defer_fsdp_grad_sync: bool = False
    #: the entry's defaults for a model without MoE layers where its code builds dense models apart (``Stack.for_model``):
    #: per option, the fields it sets where the job leaves that option out (``given_options``). NeMo
    #: AutoModel parallelizes its MoE models with moe/parallelizer.py ``parallelize_model`` (MoEParallelizerConfig /
    #: ``apply_fsdp(reshard_after_forward=False)``: the entry's own fields) and every other model with distributed/
    #: parallelizer.py ``DefaultParallelizationStrategy``, whose ``apply_fsdp2_sharding_recursively`` reshards every
    #: block but the last after forward without PP ("reshard all but last layer to enable forward+backward weight
    #: prefetching") and none under PP ("keep weights gathered across microbatches"): ``FSDP2Config.
    #: reshard_after_forward: None``, "AutoModel's heuristic" (components/distributed/config.py; read 2026-12-05).
    #: An explicit ``reshard_after_forward`` is passed through with or without PP (True: "resharding everywhere,
    #: including pipeline-parallel layers"), so the PP half of the heuristic goes with the option left out. The last
    #: block's kept weights (one block of a stage) are not priced apart
    dense_defaults: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    #: options whose code runs on a model with MoE layers only and does nothing on another: refused there
    #: (``Stack.for_model``), each with the source's words. AutoModel's ``fsdp_defer_sync`` is
    #: ``BackendConfig.enable_fsdp_optimizations``, read only by moe/fsdp_mixin.py ``MoEFSDPSyncMixin`` (which "every
    #: MoE ForCausalLM class MUST inherit"); the loop's ``prepare_for_grad_accumulation(model_parts, pp_enabled)``
    #: calls a part's own ``prepare_for_grad_accumulation`` only ``if hasattr(mp, ...)``, which a dense model lacks
    moe_only: tuple[tuple[str, str], ...] = ()
    #: the options set on this entry (``with_options``: the job's ``training.framework``, a plan's record, a searched
    #: variant), which ``dense_defaults`` leaves alone. Bookkeeping, not a setting: left out of equality (an option
    #: set to the value the stack runs anyway is the same stack)
    given_options: frozenset = field(default=frozenset(), compare=False)
    #: the model kind ``for_model`` applied ("dense" / "moe"; None: not yet), so that it applies once (bookkeeping too)
    model_kind: str | None = field(default=None, compare=False)
    #: its ZeRO-2/3 data parallelism is FSDP2 ``fully_shard`` over fp32 parameters with a 16-bit
    #: ``MixedPrecisionPolicy`` (torchtitan ``apply_fsdp``; AutoModel ``FSDP2Config``; the HF Trainer under
    #: ``fsdp_version: 2``, accelerate ``fsdp2_prepare_model``: set per job by ``_with_fsdp_version``), which changes
    #: three things:
    #:
    #: * its ZeRO-2 is ``reshard_after_forward=False`` (torchtitan ``fsdp_reshard_after_forward never``, AutoModel
    #:   ``distributed.reshard_after_forward: false``, as planner.present.emit launches it), not a replicated model
    #:   with sharded gradients: FSDP2's post-backward hook frees the unsharded parameters (torch docs,
    #:   torch.distributed.fsdp.fully_shard: "After forward and backward passes, post-forward/backward hooks free the
    #:   unsharded parameters"; ``reshard_after_forward=False`` only skips the free after forward), so every
    #:   micro-batch's forward all-gathers them again and every backward reduce-scatters -- the collectives of its
    #:   ZeRO-3 without reshard after forward, which planner.model.step_time times for it (DeepSpeed ZeRO-2 and
    #:   Megatron-FSDP's optim_grads keep the 16-bit weights whole and gather the updated ones once per step);
    #: * the sharded gradient is in the parameter's dtype, fp32, whatever the reduce dtype (torch
    #:   _fsdp_collectives.py ``foreach_reduce``: ``reduce_output = _to_dtype_if_needed(reduce_output, orig_dtype)``
    #:   before it becomes ``sharded_param.grad``): ``training.grad_dtype: same`` halves the reduce-scatter's bytes,
    #:   not the gradient shard (planner.model.memory);
    #: * the sharded parameter is the fp32 original's shard (torch _fsdp_param.py ``_init_sharded_param``;
    #:   ``all_gather_inputs`` casts it to ``param_dtype`` per all-gather): no 16-bit shard beside the master, and
    #:   the units in backward hold their bf16 unsharded gradient and a reduce-scatter input in the reduce dtype
    #:   (planner.model.memory ``fsdp2_reduce_buffer_bytes``)
    fsdp2_dp: bool = False
    #: its ZeRO-2 is FSDP1 ``SHARD_GRAD_OP`` under a ``MixedPrecision`` policy whose ``param_dtype`` is the run's
    #: 16-bit type, so the forward gets 16-bit parameters as at ZeRO-3 (``autocast_finds_fp32``): Composer /
    #: llm-foundry (composer/distributed/mosaic_parallelism.py ``get_mixed_precision``: the ``DEFAULT`` and ``PURE``
    #: presets set ``param_dtype`` to the precision, ``FULL`` leaves it None, fp32; llm-foundry's yamls and the
    #: validated MPT tables run PURE / DEFAULT: FULL is not modelled), HF Trainer (accelerate
    #: ``FullyShardedDataParallelPlugin.set_mixed_precision``: ``param_dtype`` bf16; its DeepSpeed ZeRO-2 runs the
    #: bf16 engine's 16-bit module, no fp32 weights either) and the pre-registry ``fsdp`` (PyTorch FSDP). FSDP1's
    #: flat parameter casts its fp32 shard to ``param_dtype`` (``_use_low_precision_shard``) and all-gathers that
    #: into the unsharded 16-bit parameter, kept from forward to backward under SHARD_GRAD_OP. metaseq too: fairscale's
    #: FSDP, which metaseq wraps with ``mixed_precision = fp16 and not memory_efficient_fp16`` and ``compute_dtype``
    #: bf16 / fp16, ``flatten_parameters=True`` (facebookresearch/metaseq metaseq/distributed/
    #: fully_sharded_data_parallel.py ``fsdp_enable_wrap``; its trainer casts no module under FSDP: trainer.py
    #: ``if not self.is_fsdp: ... self._model.half()``), keeps the rank's fp32 flat shard as the master
    #: (facebookresearch/fairscale fairscale/nn/data_parallel/fully_sharded_data_parallel.py ``_init_param_attributes``:
    #: ``p._fp32_shard = p.data``, asserted float32 under mixed_precision), allocates the ``compute_dtype``
    #: ``_fp16_shard`` with storage freed, fills it for each all-gather (``_cast_fp32_param_shards_to_fp16``) and
    #: frees it again once gathered (``_rebuild_full_params``: ``self._free_fp16_param_shard([p])``), gathers into
    #: the ``compute_dtype`` ``_full_param_padded`` (kept after the forward under ``--no-reshard-after-forward``:
    #: ZeRO-2), and casts the reduced gradient shard to the parameter's fp32 (``_post_reduction_hook``). So a rank
    #: holds 4/N B of weights a parameter and the 16-bit gathered units, no 16-bit shard and no autocast copy
    fsdp_zero2_param_dtype: bool = False
    #: the FSDP's fp32 flat shard is the optimizer's master under the stack's default 16-bit training too (``weights:
    #: megatron``), so at ZeRO-3 no 16-bit shard stands beside the master (planner.model.memory ``state_weights``): metaseq's
    #: ``--fp16`` / ``--bf16`` without ``--memory-efficient-fp16`` is fairscale's FSDP under ``mixed_precision=True``
    #: over the fp32 module (the layout ``fsdp_zero2_param_dtype`` reads), and its trainer builds
    #: ``MemoryEfficientFP16Optimizer`` over FSDP's parameters, which keeps no fp32 copy of its own (facebookresearch/
    #: metaseq @01e3f45b metaseq/trainer.py ``_build_optimizer``: "FullyShardedDataParallel always uses
    #: MemoryEfficientFP16 wrapper"): the master partition the convention prices is that shard. Until ds52c metaseq's
    #: ZeRO-3 held 2/N B a parameter of 16-bit shard beside it
    fsdp_fp32_shard_master: bool = False
    #: what an FSDP2 stack (``fsdp2_dp``) leaves outside its per-block units, gathered in 16 bits beyond the two
    #: blocks in flight at ZeRO-3 (planner.model.memory ``fsdp2_root_gather_params``); FSDP2 never reshards the root
    #: after forward (torch _fsdp_state.py ``_lazy_init``: "For the root, do not reshard after forward"):
    #:
    #: * "embed_head": torchtitan before PR #1094 (merged 2025-07, "improve reshard_after_forward logic", issue
    #:   #1091; parallelisms/parallelize_llama.py ``apply_fsdp`` at 2024-12) wraps the blocks and then the model:
    #:   the embedding, final norm and LM head are the root unit, gathered from the first forward to the end of
    #:   backward;
    #: * "head": torchtitan since #1094 (models/llama3/infra/parallelize.py ``apply_fsdp``) wraps the embedding
    #:   apart (resharded after forward) and ``[norm, output]`` as one unit with ``reshard_after_forward=False``
    #:   (unless the policy is "always"): the head is gathered from the end of the forward to its own backward,
    #:   beside the last block prefetched for backward, while the last block is resharded after forward;
    #: * "embed_head|head": NeMo AutoModel, by its two parallelizers (read 2026-12-02): a dense HF model goes through
    #:   components/distributed/parallelizer.py ``DefaultParallelizationStrategy`` -- ``fully_shard`` on each
    #:   ModuleList child (the decoder blocks) and then ``fully_shard(model, reshard_after_forward=False)``, "because
    #:   its parameters will be used in backward immediately": the embedding, final norm and LM head are the root
    #:   unit ("embed_head"); a MoE model through components/moe/parallelizer.py ``apply_fsdp`` -- ``embed_tokens``
    #:   and ``lm_head`` each their own unit with the blocks' ``reshard_after_forward``, the final norm left to the
    #:   inner model's unit: the head gathered at its backward beside the last block prefetched ("head");
    #: * "": not modelled (no such unit, or not read)
    #:
    #: accelerate's FSDP1 (``fsdp_version`` 1, the HF Trainer's "embed_head") holds its root unit the same way
    #: (torch FSDP1 ``_post_forward_reshard``: ``not state._is_root``; fsdp52b), at its ``param_dtype``
    fsdp2_root: str = ""
    #: HSDP at ZeRO-3: the replica all-reduce follows every micro-batch's reduce-scatter (FSDP2 ``fully_shard`` on
    #: a 2-D mesh: torch ``_fsdp_collectives.py`` ``foreach_reduce`` all-reduces over the replicate group after the
    #: reduce-scatter unless ``set_requires_all_reduce(False)``, FSDPModule's "gradient accumulation with only
    #: reduce-scatter but not all-reduce for HSDP", which torchtitan's training loop does not call: train.py
    #: ``train_step`` @000204a4 runs ``forward_backward_step`` per micro-batch with no sync toggles); False: once
    #: per step, at the accumulation boundary (DeepSpeed MiCS's hierarchical sync, Megatron's partial distributed
    #: optimizer, OLMo-core's FSDP2 trainer: ``set_requires_all_reduce(is_last_mb)``)
    hsdp_all_reduce_per_microbatch: bool = False
    #: when the data-parallel gradient reduce of a ZeRO-0/1 job is an all-reduce of every gradient, although the
    #: optimizer shards its states (then steps its 1/dp share and all-gathers the updated weights, the parameter
    #: gather priced as ZeRO-1's): "never" (the optimizer's own reduce-scatter at ZeRO-1), "bf16" (bf16 jobs only),
    #: "always". DeepSpeed's pipeline engine, which Megatron-DeepSpeed and GPT-NeoX train on, reduces in
    #: ``PipelineEngine._exec_reduce_grads``: with bf16 its BF16_Optimizer path (ZeRO <= 1) calls ``_bf16_reduce_grads``
    #: -> ``buffered_allreduce_fallback`` on the optimizer's fp32 gradients (deepspeed/runtime/pipe/engine.py, every
    #: version with the bf16 optimizer, 2022 to today: BLOOM's ZeRO-0 + bf16 optimizer), while fp16 ZeRO-1 goes to
    #: ``allreduce_gradients`` -> the ZeRO-1 optimizer's reduce: "bf16" on megatron-deepspeed. The 2021-22 DeeperSpeed
    #: GPT-NeoX pinned (EleutherAI/gpt-neox requirements/requirements.txt @00c4fb7e: DeeperSpeed @eb7f5cff) all-reduces
    #: at any precision (``_exec_reduce_grads`` -> ``buffered_allreduce_fallback``) and its ZeRO-1 optimizer
    #: (deepspeed/runtime/zero/stage1.py ``step``) then takes its partition of the all-reduced gradients: "always",
    #: a row option (validate's open_reports GPT-NeoX rows). The same code through DeeperSpeed v1.0, "the old stable
    #: versions that GPT-NeoX-20B and the Pythia Suite were trained on" (gpt-neox and DeeperSpeed READMEs,
    #: "Versions"; DeeperSpeed "prior to 3/9/2023 ... based on ... DeepSpeed (0.3.15)"): the pre-merge (HEAD) side of
    #: EleutherAI/DeeperSpeed @1622ff0f, its upstream merge, still has ``_exec_reduce_grads`` ->
    #: ``buffered_allreduce_fallback`` (pipe/engine.py) and ZeRO-1 as ``FP16_DeepSpeedZeroOptimizer_Stage1(...,
    #: precision=self.precision())`` (engine.py ``_configure_zero_optimizer``), fp16 or bf16
    grad_all_reduce: str = "never"
    #: the optimizer step first walks every 16-bit gradient tensor of the rank twice, one tensor at a time, each
    #: ending in a host read: DeepSpeed 0.3-era fp16 ZeRO-1, as GPT-NeoX's DeeperSpeed v1.0 runs it --
    #: ``FP16_DeepSpeedZeroOptimizer_Stage1.step`` (deepspeed/runtime/zero/stage1.py) calls
    #: ``self.overflow_checker.check()`` (runtime/utils.py ``CheckOverflow.has_overflow_serial``: per parameter
    #: ``float(x.float().sum())``) and then ``get_grad_norm(group, mpu)`` (per parameter ``p.grad.data.float().norm(2)``
    #: and ``.item()``) over all of the rank's parameters, not only its 1/dp partition, before it steps the partition
    #: (EleutherAI/DeeperSpeed @1622ff0f runtime/utils.py, the HEAD side of its upstream merge; stage1.py as the
    #: DeeperSpeed fork zhuzilin/DeeperSpeed keeps it). Priced by step_time.serial_grad_check_s. Off everywhere in
    #: the registry; validate's open_reports GPT-NeoX rows set it (validate.ROW_STACK_FIELDS)
    serial_grad_checks: bool = False
    #: the dtype the data-parallel gradient reduce (all-reduce, reduce-scatter) moves, where it is not the gradient
    #: buffer's (``training.grad_dtype`` under the precision convention: Megatron's ``grad_reduce_in_fp32`` buffer,
    #: FSDP's ``reduce_dtype``). ``GRAD_COMM_DTYPE``: None (the buffer's), "model" (the engine's 16-bit module dtype
    #: whatever the accumulation dtype), "fp32". DeepSpeed: "model" -- its config's ``communication_data_type``,
    #: default None, makes engine.py's ``communication_data_type`` property return torch.float16 under fp16 and
    #: torch.bfloat16 under bf16 (deepspeedai/DeepSpeed deepspeed/runtime/engine.py, 0.6 to master @007cca6; the 2022
    #: 0.6.x form returns float16 for any ZeRO stage > 0, 2 B alike), and every reduce casts to it before the
    #: collective: ``allreduce_bucket`` (ZeRO-0 and the BF16_Optimizer's fp32 gradients, which the pipeline engine's
    #: ``_bf16_reduce_grads`` hands to ``buffered_allreduce_fallback``: cast down to bf16, reduced, copied back),
    #: zero/stage_1_and_2.py ``gradient_reduction_w_predivide`` / ``average_tensor`` (ZeRO-1/2, whose buckets are the
    #: 16-bit ``self.dtype`` anyway) and zero/stage3.py ``__avg_scatter_grads`` (ZeRO-3). A job whose config sets
    #: ``"communication_data_type": "fp32"`` says so with the option of that name (``communication_data_type``).
    #: "fsdp_mp": accelerate's FSDP plugin, whose ``MixedPrecision`` / ``MixedPrecisionPolicy`` reduces in the run's
    #: mixed-precision dtype where FSDP shards (ZeRO-2/3) and DDP the gradients' own dtype below (``fsdp_reduce_bytes``;
    #: hfrs56)
    grad_comm_dtype: str | None = None
    #: DeepSpeed's ``communication_data_type`` config key as a job sets it (option): None = the stack's default
    #: (``grad_comm_dtype``); "fp32" | "bf16" | "fp16". Only on stacks whose reduce dtype is DeepSpeed's
    communication_data_type: str | None = None
    #: HF-code stacks: transformers' ``attn_implementation`` (``from_pretrained(attn_implementation=...)``; the
    #: planner.vocab ``ATTN_IMPLEMENTATION`` values) as a job sets it; None: the one transformers picks
    #: (``hf_attn_choice``)
    attn_implementation: str | None = None
    #: HF-code stacks, MoE models: transformers' ``experts_implementation`` (planner.vocab ``EXPERTS_IMPLEMENTATION``)
    #: as a job sets it; None: the one transformers picks (planner.model.activations_hf ``hf_experts_kernel``)
    experts_implementation: str | None = None
    #: the FSDP versions the stack shards with through accelerate's FSDP plugin (``training.framework.fsdp_version``;
    #: the HF Trainer's ``fsdp_config["version"]``): () where its sharding is not accelerate's FSDP (DeepSpeed's ZeRO,
    #: the other stacks' own FSDP)
    fsdp_versions: tuple[int, ...] = ()
    #: the one the job runs: the job's, else the one that runs (planner.model.finetune ``fsdp_version``, set by
    #: ``from_training``); None on a stack without ``fsdp_versions``
    fsdp_version: int | None = None
    #: whether the job left ``fsdp_version`` out (the HF Trainer's default ran: the stack line says so)
    fsdp_version_unset: bool = False
    #: torch FSDP1 (``FullyShardedDataParallel``) under the HF Trainer's gradient accumulation (``fsdp_version: 1``,
    #: set by ``_with_fsdp_version``): every micro-batch but the last runs under FSDP1's ``no_sync``
    #: (planner.model.memory ``accumulates_unsharded``: the unsharded gradients held; step_time ``dp_step_terms``:
    #: one reduce-scatter a step) and each all-gather reads a 16-bit copy of the rank's shard (``fsdp1_mp_shard_bytes``)
    fsdp1_no_sync: bool = False
    #: how a launch of the HF model code sets the attention the plan priced (``hf_attn_choice``, ``{choice}``): the
    #: ``--emit`` note's instruction (planner.present.emit ``launch_notes``); "" where the stack's own code fixes it and
    #: a launch has nothing to set: DLE's BERT builds its own modeling.BertSelfAttention, no ``from_pretrained`` (stack
    #: rule ``dle-bert-attn``; its emitted line told it to load with attn_implementation until QA 97); the DDP stacks'
    #: (dle-convnets, pytorch-ddp) own words, the script's model being the user's (QA 98)
    attn_launch: str = ("load the model with from_pretrained(..., attn_implementation={choice!r}) (TrainingArguments / "
                        "TRL model_init_kwargs)")
    #: DeepSpeed ``PipelineModule``'s ``partition_method`` as a Megatron-DeepSpeed job sets it (option; planner.model
    #: .pipeline ``PARTITION_METHODS``): None = the stack's own (``GPTModelPipe``: "type:transformer")
    pp_partition_method: str | None = None
    #: Megatron-Core's ``--pipeline-model-parallel-layout`` as a job sets it (option; planner.model.pipeline
    #: ``ExplicitLayout``): the decoder layers of every virtual stage, vpp implied by the stage count. None = the split
    #: the planner chooses (``pipeline_split``)
    pp_layout: str | None = None
    #: which split a Megatron-Core or torchtitan stack runs where the job fixes none (no ``pp_layout``, no less-layers;
    #: option; planner.model.pipeline ``split_runtime``): "balanced" the lightest pacing stage it accepts
    #: (``BalancedSplit``; torchtitan: ``TitanSplit`` left open), "megatron" Megatron's own (even, first/last one
    #: short, the embedding/loss accounted), "torchtitan" torchtitan's with both less-layers 0 (floor-even, the
    #: leftovers first); None = "balanced", and ``recommend`` / ``estimate`` fall back to the stack's own where the
    #: balanced split does not fit
    pp_split: str | None = None
    #: torchtitan's ``pipeline_parallel_first_stage_less_layers`` / ``_last_stage_less_layers`` as a job sets them
    #: (options; planner.model.pipeline ``titan_counts``): the embedding's and the output's weight in layers. None
    #: both = the planner's choice (``titan_less_layers``); one set, the other torchtitan's default 1
    pp_first_stage_less_layers: int | None = None
    pp_last_stage_less_layers: int | None = None
    #: the model states its optimizer wrapper holds per ZeRO stage and 16-bit precision, where they differ from the
    #: ZeRO paper's convention (planner.model.memory.PRECISION_CONVENTIONS): a key of ``ZERO_STATES`` (DeepSpeed's
    #: BF16_Optimizer / FP16_Optimizer / DeepSpeedZeroOptimizer / stage 3, read from its source there); None = the
    #: convention
    zero_states: str | None = None
    # options (the job may override; ``OPTIONS`` lists them)
    compile: bool = False
    #: eager ops the optimizer step and ``zero_grad`` launch per parameter tensor when the optimizer loops
    #: over tensors (torch.optim before foreach became the default in torch 2.0); 0: fused / multi-tensor
    #: kernels (the handful of launches step_time charges every stack). step_time.eager_optimizer_host_s
    optimizer_tensor_ops: float = 0.0
    #: torch.optim's Adam / AdamW runs its multi-tensor "foreach" path, one HBM pass per ``torch._foreach_*`` op
    #: (step_time.OPTIMIZER_BYTES_FOREACH), not a fused kernel: a stack that instantiates ``torch.optim.Adam(W)``
    #: from a config passing neither ``foreach`` nor ``fused`` (torch's default on CUDA is foreach)
    optimizer_foreach: bool = False
    #: the trained parameters are stored in the run's 16-bit dtype with no fp32 master copy anywhere, and a torch.optim
    #: Adam / AdamW keeps its moments in that dtype (torch/optim/adam.py ``_init_group``: ``exp_avg = torch.zeros_like(
    #: p)``): 2 B of weights + 2 + 2 B of moments a parameter where the 16-bit + fp32-master convention holds 2 + 4 + 8
    #: (memory.params_16bit). NeMo AutoModel's own (custom) MoE models: the loop calls ``model.initialize_weights()``
    #: (components/checkpoint/checkpointing.py ``Checkpointer.load_base_model``, with ``load_base_model: false`` too),
    #: whose default ``dtype=torch.bfloat16`` ends in ``cast_model_to_dtype`` / ``self.to(dtype)`` (models/qwen3_moe,
    #: deepseek_v3, gpt_oss, nemotron_v3 ``initialize_weights``), so FSDP2's lazy init reads bf16 as the parameters'
    #: ``orig_dtype`` (torch _fsdp_param.py ``init_dtype_attrs``: ``param_dtype`` clamped to None, no cast, the reduced
    #: shard cast back to bf16), while ``reduce_dtype`` fp32 keeps the reduce-scatter input and the accumulated unsharded
    #: gradients fp32 (``to_accumulated_grad_if_needed``). Until NVIDIA-NeMo/Automodel PR #1896 (merged 2026-04-17,
    #: "Previously every custom MoE model silently collapsed to BF16 at the optimizer"; after it ``initialize_weights``
    #: keeps the dtype the parameters were built in). A model without MoE layers runs the HF path, not walked here
    #: (``dense_defaults``: off)
    params_16bit: bool = False
    #: JAX / flax over fp32 parameters (MaxText's default ``weight_dtype: float32`` with ``dtype: bfloat16``): each
    #: layer casts its parameters to the compute dtype where it uses them (MaxText layers/linears.py ``DenseGeneral``:
    #: ``kernel = jnp.asarray(kernel, self.dtype)``, inside the ``nn.scan``-ned decoder layer whose stacked parameters
    #: it slices one layer an iteration), so no 16-bit copy of the rank's fp32 shard outlives the layer: the 16-bit
    #: values are the gathered layer's, which the gathered window prices. Off: autocast's / FSDP1's 16-bit copy of the
    #: shard (memory.WEIGHT_COPY_BYTES) is held beside the fp32 weights. Until mxmem38 MaxText held it: Llama 3.1 8B
    #: on v6e-8, 1.87 GiB a chip
    casts_weights_per_use: bool = False
    #: Adam's moments in the parameters' dtype whatever it is (optax ``scale_by_adam``: ``mu = tree_zeros_like(params,
    #: dtype=mu_dtype)``, ``nu = tree_zeros_like(params)``; MaxText passes ``mu_dtype=config.mu_dtype``, whose ""
    #: default "Inherits from weight_dtype if empty", configs/types.py ``mu_dtype``, pyconfig.py ``set_mu_dtype``): a
    #: job whose weights are 16-bit with no master (``training.weights: pure``, MaxText ``weight_dtype: bfloat16``)
    #: keeps 2 + 2 B of moments a parameter, not fp32's 4 + 4, and its optimizer pass moves them so
    #: (memory.moments_16bit). Until mxmem38 8 B: Llama 3.1 70B on v6e-32 (bf16 weights) 16.4 GiB of moments a chip
    #: where optax holds 8.2. NeMo 1.x's Apex DistributedFusedAdam keeps its state in its ``dtype`` (apex
    #: contrib/optimizers/distributed_fused_adam.py: "dtype: datatype for optimizer state"); at ``optim.dtype: bf16``
    #: over a bf16 O2 model NeMo stores no master (megatron_base_model.py ``setup_optimization``: ``if optim_dtype ==
    #: model_dtype: optim_kwargs['store_params'] = False``): the same 2 + 2 B beside bf16 weights (``weights: pure``;
    #: set per row in benchmarks/validate.py ``NEMO_FT_TASKS``)
    moments_like_params: bool = False
    #: a generic model's (CNN's) activations are channels-last (NHWC, ``model.to(memory_format=
    #: torch.channels_last)``), the layout tensor-core convolutions run in: the tuned recipes' choice and
    #: the planner's default; False: PyTorch's default NCHW, which cuDNN transposes around each
    #: tensor-core convolution (step_time.nchw_transpose_bytes)
    channels_last: bool = True
    tp_overlap: str = "none"
    overlap_grad_reduce: bool = True
    overlap_param_gather: bool = True
    #: under PP, with ``overlap_param_gather`` at ZeRO-1/2, each stage starts the step's parameter all-gather only at
    #: its own first forward, so the pipeline's fill waits for it stage after stage: Megatron-Core's distributed
    #: optimizer (megatron/core/distributed/distributed_data_parallel.py ``_make_forward_pre_hook`` ->
    #: param_and_grad_buffer.py ``finish_param_sync``, which dispatches the first bucket's all-gather "if not yet
    #: dispatched (e.g., first AG bucket in first model chunk if ddp_config.align_param_gather is False)" and waits on
    #: it; ``finish_grad_sync`` clears ``param_gather_dispatched`` each step and the optimizer's
    #: ``step_with_ready_grads`` gathers nothing when overlapped). ``align_param_gather`` is off without VPP
    #: (Megatron-LM ``validate_args`` "non-interleaved schedule does not support ... aligned param AG"; NeMo 2 /
    #: Megatron-Bridge's comm-overlap config sets it only at PP > 1 and VPP > 1), and with it the interleaved schedule
    #: dispatches every stage's first chunks at once (schedules.py ``param_sync_func``): one stage's wait, not pp
    #: (planner.model.step_time ``compose_step``)
    param_gather_stage_lazy: bool = False
    #: on the interleaved schedule the step's parameter all-gather is dispatched chunk by chunk, every PP stage at
    #: once: chunks 0 and 1 at the step's start, chunk k + 1 at chunk k's first forward (Megatron-Core
    #: ``DistributedDataParallelConfig.align_param_gather`` -> schedules.py ``param_sync_func``; planner.model.pipeline
    #: ``aligned_gather_exposed``). Megatron-LM's CLI default (``--no-align-param-gather`` turns it off), and what
    #: Megatron-Bridge / NeMo 2's comm-overlap config sets at DP > 1, PP > 1, VP > 1; NeMo 1.x's Apex
    #: DistributedFusedAdam path (``sync_overlap_parameters``) gathers its own way and its rows run without it
    #: (benchmarks/validate.py ``pr2_options``). Off: the gather hides under one micro-batch's forward of the stage
    align_param_gather: bool = False
    #: Megatron-Core's ``overlap_param_gather_with_optimizer_step`` (OptimizerConfig / Megatron-LM
    #: ``--overlap-param-gather-with-optimizer-step``, VPP only): two optimizers, model chunk 0's first, and chunk 0's
    #: whole parameter all-gather dispatched after its step, under the other chunks' step
    #: (planner.model.pipeline ``optimizer_step_gather_head``). Off on every entry, nemo and megatron-bridge included,
    #: as their libraries default it (nemo58): Megatron-LM's CLI; Megatron-Bridge's ``CommOverlapConfig.
    #: _get_optimizer_overlap_cfgs`` ("# Currently disabled due to an issue with checkpointing", the line commented
    #: out); NeMo 2's ``MegatronCommOverlapCallback._get_optimizer_overlap_cfgs`` the same from its 2025 releases
    #: (NeMo 2.4.0rc0 and the other lightning.pytorch-era copies read), where the 2024 callback (NVIDIA/NeMo @e69d0b56,
    #: pytorch_lightning) set it at DP > 1 (AppState), PP > 1, VP > 1 under the distributed optimizer, and NeMo 2's own
    #: performance recipes passed ``overlap_param_gather_with_optimizer_step=False`` over it ("Currently disabled due to
    #: an issue with checkpointing"). Only the benchmark harnesses turn it on, with checkpointing off: NeMo 2's
    #: scripts/performance helpers (``bool(dp > 1 and pp > 1 and vp > 1)``, "WARNING: If True, checkpointing (if
    #: enabled) might not work") and Megatron-Bridge's scripts/performance overrides (until PR #5847, 2026-08): run
    #: options, mapped per validation row (benchmarks/validate.py ``perf_script_opt_gather``), as nemo2map38 maps the
    #: other performance-script overrides
    overlap_param_gather_with_optimizer_step: bool = False
    #: NeMo 1.x's model syncs the step's parameters its own way (megatron_gpt_model.py ``fwd_bwd_step``: Apex
    #: DistributedFusedAdam's ``sync_overlap_parameters``, whose ``_start_bucket_param_sync`` first waits on any gather
    #: in flight), not Megatron-Core's lazy per-chunk pre-hook dispatch: on the interleaved schedule the gather keeps
    #: the one-forward window (row-only: benchmarks/validate.py ``nemo1_run``)
    apex_param_sync: bool = False
    #: the interleaved schedule launches each model chunk's DP gradient reduce when that chunk's last backward ends,
    #: so the reduce hides under the chunk backwards that follow (Megatron-Core ``grad_sync_func`` under Megatron-LM's
    #: default ``--align-grad-reduce``: planner.model.pipeline ``chunk_reduce_window``)
    align_grad_reduce: bool = False
    reshard_after_forward: bool = True
    fp8_recipe: str = "tensorwise"
    #: what ``recompute: selective`` re-runs: Megatron's attention core (Korthikanti et al. 2022),
    #: torchtitan's op-level SAC (``activation_checkpoint.selective_ac_option = "op"``: saves
    #: attention and every other mm output, recomputes the rest) or layer SAC (an integer
    #: option: every n-th layer fully checkpointed; n = ``ac_freq``)
    selective: str = "attention_core"
    #: the stack's attention runs q, k and v as one linear (torchtitan 0.3 ``FusedQKVLinear``: Llama 3, Qwen3 and
    #: gpt-oss build with ``fuse_qkv=True``), one mm where separate projections are three: per-op SAC's "every
    #: second mm" count (planner.model.flops ``op_sac_recompute_flops_per_token``) runs over it
    fused_qkv: bool = False
    #: each column-parallel linear redistributes its own sequence-parallel input (torch ``ColwiseParallel(input_layouts=
    #: Shard(1))`` on q, k, v, gate and up one by one: KempnerForge ``distributed/tensor_parallel.py``
    #: ``_build_block_tp_plan``), where torchtitan's plan gathers once a block (``PrepareModuleInput`` on
    #: ``attention`` / ``feed_forward``). Counted on torch 2.13's DTensor (tests/test_kf55.py, fake process group at
    #: TP 4): eager, a dense SwiGLU block's forward runs 5 all-gathers + 2 reduce-scatters and its backward 2 + 5
    #: (the block plan 2 + 2 both ways); compiled (AOTAutograd's min-cut partitioner, which CSEs the joint graph:
    #: torch/_functorch/partitioners.py ``min_cut_rematerialization_partition`` -> compile_utils ``fx_graph_cse``)
    #: the forward's identical gathers merge to 2 and the backward keeps its 5 reduce-scatters, one per input
    #: gradient (planner.model.layer_ops ``per_linear_tp_inputs``)
    tp_gather_per_linear: bool = False
    #: under TP the LM head's output stays a vocabulary-sharded DTensor and the loss runs on the rank's shard
    #: (torch/distributed/tensor/parallel/loss.py ``loss_parallel``; torchtitan ``apply_tp``: ``"output":
    #: ColwiseParallel(input_layouts=Shard(1), output_layouts=Shard(-1) if loss_parallel else Replicate(),
    #: use_local_output=not loss_parallel)``, on unless ``--parallelism.disable_loss_parallel``). False: the head's
    #: output all-gathered to ``Replicate()`` and the loss run on the whole vocabulary on every TP rank, as torchtitan's
    #: ``disable_loss_parallel`` and KempnerForge's plan (``distributed/tensor_parallel.py``: ``ColwiseParallel(
    #: input_layouts=Shard(1), output_layouts=Replicate())`` on ``output_head.proj``, ``F.cross_entropy`` in
    #: ``training/loss.py``) run it: one T x V all-gather of the 16-bit logits forward (its backward a local slice)
    #: and the loss's HBM passes over V, not V / tp (planner.model.layer_ops ``whole_vocab_loss``; the memory's
    #: logits and loss buffers over the whole V too: memory_activations ``whole_vocab_tp``, kf56b)
    loss_parallel: bool = True
    #: the loss outside the compiled model, eager ``F.cross_entropy`` on the model's 16-bit logits (no upcast), the
    #: loop holding the logits through ``backward``: KempnerForge (training/loss.py ``cross_entropy_loss``, training/
    #: loop.py ``text_step``, ``torch.compile(model)`` only), where torchtitan compiles an upcast loss and drops
    #: ``pred`` (activations.LOSS_TRANSIENT_BYTES "torch_ce_16bit_held"; memory only, kf56b)
    loss_eager_16bit: bool = False
    #: under TP the token embedding stays whole on every TP rank, its output wrapped ``Replicate()`` for the first
    #: block's SequenceParallel norm (KempnerForge ``distributed/tensor_parallel.py`` ``apply_tensor_parallel``: "The
    #: token embedding stays replicated because RowwiseParallel on nn.Embedding doesn't correctly redistribute output
    #: to Shard(1)"), where torchtitan's plan splits it rowwise over the vocabulary: FSDP2's root unit gathers, holds
    #: and reduce-scatters the whole V x h on each TP rank (planner.model.moe ``hf_ep_whole_params``, the count the
    #: memory's ``dense_rank`` and the step time's DP terms read)
    tp_embedding_replicated: bool = False
    #: torchtitan layer SAC's n (``activation_checkpoint.selective_ac_option = "<n>"``, ``_apply_layer_sac``'s
    #: ``ac_freq``): each n-th block of a rank checkpointed whole, the others keep everything
    #: (planner.model.pipeline.recomputed_fraction); None: ``LAYER_SAC_FREQ``; 1 is every layer (= full)
    ac_freq: int | None = None
    #: the stack takes Megatron-Core's per-module selective recompute (``training.recompute_modules``,
    #: TransformerConfig ``recompute_modules``; ``recompute_modules`` below checks a job's list)
    module_recompute: bool = False
    #: the stack checkpoints only some layers under full recompute (``training.recompute_method`` /
    #: ``recompute_num_layers``): Megatron ``--recompute-method block|uniform --recompute-num-layers N``
    #: (Megatron-Core TransformerConfig recompute_method / recompute_num_layers, transformer_block.py
    #: ``_checkpointed_forward``; the legacy megatron/model/transformer.py ParallelTransformer has the same loop)
    partial_recompute: bool = False
    #: the MoE experts apply the routing weights inside their activation and the combine keeps no
    #: expert output (Megatron-Core 0.16.1 moe/experts.py ``activation_func_with_probs``;
    #: planner.model.activations.layer_saved_tensors ``probs_in_experts``)
    moe_probs_in_experts: bool = False
    #: the ``moe_dispatcher`` values under which the routed experts' gated activation keeps only its input (the fc1
    #: output) and the routing weights, no ``act(gate)`` (planner.model.activations.layer_saved_tensors
    #: ``fused_act_experts``; the dense MLP and the shared experts are not covered). NeMo AutoModel's
    #: ``GroupedExpertsDeepEP`` (components/moe/layers.py, the period's version: ``get_expert_activation_for_deepep``)
    #: runs ``weighted_bias_swiglu_impl`` (Megatron's fused SwiGLU, which saves its input and the weights) or a
    #: ``@torch.compile``'d ``quick_geglu_deepep`` / ``relu2_deepep``, whose partition (torch's min-cut
    #: rematerialisation) saves the inputs and recomputes the pointwise ops in backward (checked on CPU under real
    #: autograd, tests/test_overmem38.py); its torch all-to-all path (``GroupedExperts``) compiles the matmuls in
    #: with the activation and is not covered
    moe_fused_act_dispatchers: tuple = ()
    #: the eager ops the grouped-GEMM experts run around their GEMMs (planner.model.moe ``EXPERT_EAGER_FORMS``):
    #: Megatron-Core's TEGroupedMLP ("megatron": the clamped GLU's eager clamp chain and offset sync, fc2's bias loop)
    #: or NeMo AutoModel's GroupedExpertsDeepEP ("automodel": the clamp compiled into the activation, fc1's and
    #: fc2's bias loops, on the DeepEP path only)
    moe_expert_eager: str = "megatron"
    activation_offload: bool = False
    #: transformer layers whose activations ``activation_offload`` sends to the host: Megatron-Core's
    #: ``--cpu-offloading-num-layers`` (TransformerConfig ``cpu_offloading_num_layers``, which must be below
    #: ``num_layers``: stack_rules ``mcore-offload-layers``); None = every layer but the last (``num_layers - 1``,
    #: what planner.present.emit launches when the search turns offload on). Megatron-Bridge's Llama 3 70B
    #: Megatron-FSDP performance recipes set 5 (B200 FP8-CS), 20 / 40 (GB200 BF16 / FP8-CS), 30 / 20 (GB300 BF16 /
    #: FP8-CS) (scripts/performance/configs/llama/llama3_workload_base_configs.py @d063066b). Priced by
    #: planner.model.offload ``offloaded_layers``
    activation_offload_layers: int | None = None
    #: MaxText's ``remat_policy`` (``MAXTEXT_REMAT_POLICIES``): which named tensors its ``jax.checkpoint``-ed decoder
    #: layer keeps on the chip or offloads to pinned host memory, on the rows with ``training.recompute: full`` (the
    #: layer under remat; ``recompute: none`` is MaxText's ``remat_policy: none``). None: MaxText's ``full`` (the
    #: layer input only), what the stack priced before the option. Priced by planner.model.activations
    #: ``remat_tensor_bytes`` (chip and host), planner.model.offload (the host copies) and planner.model.step_time
    #: ``remat_policy_skip`` (the saved projections not re-run)
    remat_policy: str | None = None
    #: ``remat_policy: custom``'s per-tensor locations (base.yml ``decoder_layer_input: offload``, ``query_proj:
    #: offload``, ...), sorted (tensor, device | offload | remat) pairs; a tensor left out is at base.yml's default
    remat_tensors: tuple[tuple[str, str], ...] = ()
    #: MaxText's ``num_vocab_tiling`` (base.yml: 1). Above 1 the decoder returns no logits in training ("When vocab
    #: tiling is enabled in training mode, full logits won't generate to reduce memory. Instead, we keep track on the
    #: hidden states", layers/decoders.py) and the loss runs ``vocabulary_tiling.vocab_tiling_linen_loss``: a
    #: ``jax.lax.scan`` over n tiles of (batch x seq) / n rows, each tile's logits and ``cross_entropy_with_logits``
    #: (the loss the untiled path runs) made and dropped in turn, the hidden states its only residual beside the
    #: labels; the custom VJP's backward scan re-runs each tile's logits and loss under ``jax.vjp``. Priced by
    #: planner.model.activations ``logits_bytes`` / ``loss_transient_bytes`` (``vocab_tiles``: one tile's vocab-wide
    #: bytes) and planner.model.layer_ops ``lm_head`` (the head GEMM and loss re-run in the backward). The Gemma3
    #: tpu-recipes set 16. A classifier head (``model.output_head``) makes no vocabulary logits to tile: ``vocab_tiles``
    num_vocab_tiling: int = 1
    #: the layers run as one loop whose body gathers its own layer's weights (MaxText's ``scan_layers: True``, base.yml's
    #: default: the decoder layers under ``nn.scan``, FSDP's all-gathers inside the scanned body): at ZeRO-3 the chip
    #: holds the one layer in use, no next layer prefetched across the loop's iterations -- "In standard FSDP training,
    #: parameter All-Gather collectives lie exposed on the critical execution path before every layer's forward
    #: computation", what AI-Hypercomputer/maxtext PR #4493 ("FSDP Prefetch: Forward pass only", open, 2026-07-15)
    #: adds a custom-VJP scan to change. ``ag_backward_pipelining`` puts the next layer's gather back in the backward
    #: (planner.model.memory ``gathered_blocks``). False: FSDP's block in use and the one prefetched
    scan_gathers: bool = False
    #: XLA's ``--xla_tpu_enable_ag_backward_pipelining=true`` (MaxText benchmarks/xla_flags_library.py
    #: ``HOST_OFFLOAD_FLAGS``, "optimizations recommended when using host offloading"; off unless a recipe sets it):
    #: the scanned backward's all-gathers pipelined across its iterations, the next layer's gathered beside the one in
    #: use, as FSDP's prefetch holds two. By the flag's name: no source read on what it holds (the conservative side)
    ag_backward_pipelining: bool = False
    #: the stack takes ``remat_policy`` / ``remat_tensors`` / ``num_vocab_tiling`` / ``ag_backward_pipelining`` (MaxText)
    has_remat_policy: bool = False
    optimizer_offload: bool = False
    #: DeepSpeed's ``cpu_checkpointing`` (Megatron-DeepSpeed ``--checkpoint-in-cpu``; the DeepSpeed config's
    #: ``activation_checkpointing.cpu_checkpointing``): each checkpointed layer's input goes to host memory in the
    #: forward and comes back before the layer's recompute (deepspeedai/DeepSpeed deepspeed/runtime/
    #: activation_checkpointing/checkpointing.py ``CheckpointFunction``: ``partition.cpu()`` / ``copy_to_device(...,
    #: torch.device('cpu'))``, then ``t.saved_data.to(t.device)`` in ``backward``). Megatron-DeepSpeed runs DeepSpeed's
    #: checkpoint under ``--deepspeed-activation-checkpointing`` (megatron/initialize.py
    #: ``_configure_deepspeed_checkpointing``: ``deepspeed.checkpointing.configure(mpu, partition_activations=
    #: args.partition_activations, ..., checkpoint_in_cpu=args.checkpoint_in_cpu)``, ``mpu.checkpoint =
    #: deepspeed.checkpointing.checkpoint``). Only with full recompute (planner.model.offload ``valid_masks``). Priced
    #: by planner.model.offload (module docstring "DeepSpeed": the host copies, the GPU's one resident input)
    cpu_checkpointing: bool = False
    #: the stack's checkpointed layers run DeepSpeed's ``CheckpointFunction`` (the two options above): Megatron-DeepSpeed.
    #: Not the ``deepspeed`` (Hugging Face) stack: transformers' ``gradient_checkpointing_enable`` wraps its layers in
    #: ``torch.utils.checkpoint``, which the DeepSpeed config's ``activation_checkpointing`` section does not reach
    has_ds_checkpointing: bool = False
    #: DeepSpeed ``zero_optimization.reduce_bucket_size`` in elements (the reduce buckets of ``ZERO_STATES``' rows,
    #: planner.model.memory ``zero_stage_states``); None: DeepSpeed's default, ``ZERO_REDUCE_BUCKET_ELEMS``. The
    #: ZeRO-Offload tutorial's 10B config sets 5e7 (DeepSpeedExamples Megatron-LM/scripts/
    #: ds_zero-offload_10B_config.json)
    reduce_bucket_size: float | None = None
    #: DeepSpeed ZeRO-3's parameter offload (``zero_optimization.offload_param: {device: cpu}``, ZeRO-Infinity,
    #: Rajbhandari et al. 2021): the rank's 16-bit parameter partition lives in pinned host memory and is copied to
    #: the GPU before every ZeRO-3 all-gather (planner.model.offload module docstring "Parameter offload"; ZeRO-3
    #: rows only, ``offload.valid_masks``)
    param_offload: bool = False
    #: where DeepSpeed's offloads keep what they take off the GPU (``offload_optimizer.device`` / ``offload_param.device``,
    #: vocab ``OFFLOAD_DEVICE``): "cpu" (pinned host memory), or "nvme" (ZeRO-Infinity: the optimizer's fp32 state and
    #: gradients, and the 16-bit parameters past ``max_in_cpu``, swapped to local NVMe through pinned host buffers;
    #: planner.model.offload module docstring "NVMe"). ZeRO-3 only (``offload.valid_masks``), on the stacks whose
    #: ``offload_devices`` name it
    offload_device: str = "cpu"
    #: the file system under DeepSpeed's one ``nvme_path`` (vocab ``NVME_STRIPE``): "one" drive (DeepSpeed's docs) or
    #: a stripe over the node's ``local_nvme_drives``; ``nvme_gbps`` (GB/s a node, read and write) replaces both
    #: (planner.model.offload ``nvme_node_bps``). Read only under ``offload_device`` nvme
    nvme_stripe: str = "one"
    nvme_gbps: float | None = None
    #: the devices its offloads can use (``offload_device``'s values): DeepSpeed's ("cpu", "nvme"), the others' cpu
    offload_devices: tuple[str, ...] = ("cpu",)
    #: the offloads the stack implements (planner.model.offload): "activation" = Megatron-Core
    #: ``--cpu-offloading`` (TE ``get_cpu_offload_context``); "optimizer" = DeepSpeed ZeRO-Offload
    #: ``offload_optimizer``, Megatron-Core ``--optimizer-cpu-offload``, FSDP2 ``CPUOffloadPolicy``; "param" =
    #: DeepSpeed ZeRO-3 ``offload_param`` (``param_offload``). Each kind's switch is the field ``<kind>_offload``
    #: (``OFFLOAD_KINDS``)
    offloads: tuple[str, ...] = ("optimizer",)
    #: the least ZeRO stage its optimizer offload runs at with one data-parallel replica too (planner.model.offload
    #: ``valid_masks``; with more, every stack's needs ZeRO >= 1): 1 on the Megatron-Core stacks, whose
    #: ``--optimizer-cpu-offload`` needs ``--use-precision-aware-optimizer``, which needs ``--use-distributed-optimizer``
    #: at any DP (Megatron-LM megatron/training/arguments.py ``validate_args``), so a DP 1 plan with it launches the
    #: distributed optimizer: ZeRO-1, its label (QA 45: Llama-3.1-405B TP8 PP64 DP1 was labelled z0 while its launch
    #: wrote ``--use-distributed-optimizer``); 0 where the offload is not tied to a stage's flag at DP 1
    optimizer_offload_zero: int = 0
    #: stacks that run the Hugging Face model code (its activations: planner.model.activations_hf):
    #: "amp" = ``torch.autocast(bf16)`` over fp32 weights (HF Trainer ``bf16=True`` on a model
    #: loaded in fp32: fp32 weights and gradients plus autocast's bf16 weight copies; on the deepspeed stack
    #: DeepSpeed's ``torch_autocast`` section, the one way DeepSpeed autocasts, ``fp32_module_zero_rows``), "bf16" = the
    #: model in bf16 (DeepSpeed's bf16 engine, which the HF Trainer's ``bf16=True`` enables, or
    #: ``torch_dtype=bfloat16``: bf16 weights, the optimizer's fp32 master as ``training.weights`` says); None = the
    #: stack's own fused kernels (Megatron-Core/TE, torchtitan: planner.model.activations)
    mixed_precision: str | None = None
    #: under ``mixed_precision: bf16`` the engine itself casts the whole module it is handed to the 16-bit type at
    #: initialisation -- after peft's ``get_peft_model``, so the LoRA adapters too (``casts_adapters``): DeepSpeed's
    #: bf16 / fp16 engine (deepspeedai/DeepSpeed deepspeed/runtime/engine.py ``DeepSpeedEngine.
    #: _configure_distributed_model``: ``elif self.bfloat16_enabled(): ... self.module.bfloat16()`` (``module.half()``
    #: under fp16), 0.9-0.16; the newest ``_cast_module_mixed_precision(param_dtype, buffer_dtype, ...)`` casts every
    #: parameter likewise, "Cast params only; preserve fp32 buffers"); its optimizer keeps the fp32 master
    #: (``ZERO_STATES``). Not a model loaded at ``torch_dtype=bfloat16`` (hf-trainer's ``mixed_precision: bf16``):
    #: that cast comes before ``get_peft_model``, whose ``autocast_adapter_dtype`` then makes the adapters fp32
    casts_module_to_half: bool = False
    #: MoE token dispatcher (planner.model.moe.DISPATCHERS; Megatron ``--moe-token-dispatcher-type``
    #: alltoall, or flex with ``--moe-flex-dispatcher-backend deepep|hybridep``)
    moe_dispatcher: str = "alltoall"
    #: the dispatchers the stack's MoE code offers (``moe_dispatcher`` is checked against it): all-to-all
    #: everywhere; DeepEP/HybridEP on the Megatron-Core stacks (``--moe-token-dispatcher-type flex``,
    #: ``--moe-flex-dispatcher-backend``, which planner.present.emit writes). The HF-code, legacy Megatron,
    #: DeepSpeed, llm-foundry and metaseq stacks have no flex dispatcher; torchtitan's main branch has
    #: ``parallelism.expert_parallel_comm_backend`` (torchtitan/distributed/deepep), but the emitter's
    #: torchtitan style writes no such flag, so a plan timed with it would launch without it: left out
    moe_dispatchers: tuple[str, ...] = ("alltoall",)
    #: the stack parallelises the HF model code with transformers' own plans (transformers 5.23.0
    #: distributed/mixin.py ``_resolve_parallel_plans``): at TP > 1 the model's ``base_model_tp_plan`` (plus the
    #: ``*ForCausalLM`` class's ``_tp_plan``: lm_head ``colwise_gather_output``; ``embed_tokens``
    #: ``embedding_rowwise`` where the base plan is not empty), at EP > 1 its ``base_model_ep_plan`` on the routed
    #: experts only ("EP rules take precedence: drop TP rules on EP modules and their children"), the TP plan still
    #: on every other module (planner.model.moe ``HF_TP_PLANS``, ``hf_ep_tp``). Until hfep52 (an older revision's
    #: API: the EP plan alone, ``ep_router`` + ``moe_tp_experts``, EP = TP) priced with the attention, embedding, head,
    #: routers and shared experts whole on every EP rank and the experts' outputs summed by an all-reduce
    hf_plans: bool = False
    #: TP runs Megatron's sequence parallelism (Korthikanti et al. 2022): the norms, dropout and residual stream
    #: split over the TP ranks, a reduce-scatter / all-gather pair in place of each all-reduce, the activations
    #: outside attention and the MLP divided by TP. False where the stack's TP shards the linears only, with an
    #: all-reduce after each row-parallel layer and the norms and residual stream whole on every rank (rule
    #: ``hf-tp-sp``; ``stack_rules.open_sp`` runs such a stack's TP > 1 layouts without SP). transformers' TP is the
    #: model's ``base_model_tp_plan`` (models/llama/configuration_llama.py: q/k/v/gate/up ``colwise``, o/down
    #: ``rowwise``, no norm entry; models/qwen3_moe/configuration_qwen3_moe.py likewise, its q_norm / k_norm
    #: ``replicated_with_grad_allreduce``) or, with expert parallelism, its ``base_model_ep_plan``
    #: (distributed/mixin.py ``tp_plan``), which names no norm either; integrations/tensor_parallel.py
    #: ``ParallelInterface``: ``"rowwise": RowwiseParallel(input_layouts=Shard(-1), output_layouts=Replicate())`` --
    #: the Partial output redistributed to Replicate, an all-reduce -- and ``"colwise"`` takes a Replicate input.
    #: Its ``SequenceParallel`` style is applied only to modules a plan names ``"sequence_parallel"``: Doge's config
    #: does (its norms and residual scales), and Llama 4's first plan did (4.51, with ``local_rowwise`` and ``gather``
    #: around it), not the Llama, Qwen2-MoE, Qwen3-MoE, Gemma 4 or current Llama 4 configurations. DeepSpeed's AutoTP on the HF model code
    #: (deepspeed/module_inject/auto_tp.py ``AutoTP._replace``) swaps each ``nn.Linear`` for ``LinearAllreduce``
    #: (o_proj, down_proj: row-parallel, all-reduce of the output) or ``LinearLayer`` (column-parallel) and leaves
    #: the norms whole; DeepSpeed's Ulysses "sequence parallelism" is context parallelism, not this
    tp_sequence_parallel: bool = True
    #: its tensor parallelism splits the routed experts (expert-TP = TP without EP). False where it leaves them whole
    #: on every TP rank, which then runs every expert on the whole micro-batch: DeepSpeed's AutoTP swaps ``nn.Linear``
    #: modules only (deepspeed/module_inject/auto_tp.py ``AutoTP.tp_parser`` / ``get_layers``: ``isinstance(submodule,
    #: nn.Linear)``), its partition presets name the per-expert linears of the old layouts (autotp_config.py
    #: ``AutoTPPresets.mixtral`` ``block_sparse_moe.experts.N.w1``, ``deepseek_v2`` ``mlp.experts.N.gate_proj``) and
    #: its HF tp_plan converter takes colwise / rowwise / colwise_gather_output only (tp_plan_converter.py
    #: ``SUPPORTED_STYLES``; an MoE plan's ``packed_colwise`` / ``moe_tp_experts`` falls back to the presets), while
    #: transformers 5 holds a layer's experts as 3-D parameters (``experts.gate_up_proj`` / ``down_proj``)
    tp_splits_experts: bool = True
    #: expert parallelism folded over the stack's TP (transformers 5.23's ``AllToAllEP``, the same dispatch; DeepSpeed's
    #: AutoEP, deepspeed/module_inject/auto_ep_layer.py
    #: ``AutoEPMoELayer._forward``): every TP peer holds the same tokens and routes them all (the router whole on each,
    #: ``mark_autoep_folding_router_parameter``), ``partition_assignments`` (deepspeed/moe/ep_tp_dispatch.py) gives
    #: each peer 1/TP of the T x top_k (token, expert) rows, ``_AllToAllV`` dispatches and combines them over the EP
    #: group (``autoep_size`` whole experts per group, ``E / ep`` a rank; the groups laid across the TP lanes,
    #: auto_ep_folding.py ``expected_folding_group_tables``) and ``restore_combined`` all-gathers the combined rows over
    #: TP (a reduce-scatter backward), the layer's input gradient averaged over TP (``average_gradient_over_tp``, one
    #: all-reduce backward) in place of a row-parallel all-reduce. The MoE block is no AutoTP module (``AutoTP.
    #: _replace_module`` skips ``_is_autoep_layer`` but for its shared experts, split over TP). At TP 1 the same layer
    #: dispatches each rank's own T x top_k rows. Planner's moe ``moe_layer`` prices the dispatch as the all-to-all
    #: stacks' (each rank routes T / TP rows) plus the restore; EP 1 leaves the HF MoE block to AutoTP
    #: (``tp_splits_experts``)
    moe_ep_tp_fold: bool = False
    #: the folded EP layer averages its input gradient over TP in the backward (DeepSpeed's AutoEP
    #: ``average_gradient_over_tp``: one T x h all-reduce); transformers' ``AllToAllEP`` has none -- the TP chunk's
    #: backward all-gathers the row gradients (the restore's mirror, priced with it)
    moe_ep_tp_grad_average: bool = False
    #: the stack has Megatron-Core's combined-1F1B EP all-to-all overlap (``moe_a2a_overlap`` below)
    has_moe_a2a_overlap: bool = False
    #: the stack can run Megatron-FSDP (Megatron-Core 0.14+, megatron/core/distributed/fsdp: Megatron-LM
    #: ``--use-megatron-fsdp``, Megatron-Bridge ``ddp.use_megatron_fsdp``): the Megatron-Core stacks
    has_megatron_fsdp: bool = False
    #: ZeRO-2/3 run as Megatron-FSDP's ``optim_grads`` / ``optim_grads_params`` sharding strategy
    #: (``--data-parallel-sharding-strategy``) instead of being refused (ZeRO-2) or run as PyTorch FSDP2
    #: (ZeRO-3, ``--use-torch-fsdp2``); ZeRO-0/1 stay DDP / the distributed optimizer. Its collectives are
    #: the ZeRO-2/3 ones planner.model.step_time already times: a reduce-scatter of every micro-batch's
    #: gradients ("grad_reduce_every_bprop" for optim_grads and optim_grads_params, megatron_fsdp.py) and,
    #: at ZeRO-3, one TransformerLayer unit gathered before its forward and again before its backward, with
    #: prefetch (one unit per collective, as FSDP2's per-block wrap), ZeRO-2 gathering the updated
    #: parameters once per step; TE accumulates each wgrad straight into the unsharded main-grad bucket
    #: (Megatron-Bridge scripts/performance/utils/overrides.py ``_set_megatron_fsdp_overrides`` sets
    #: ``gradient_accumulation_fusion = True``; megatron_fsdp.py ``_grad_acc`` copies ``.grad`` into the
    #: bucket only without it), so no extra pass. What differs is memory: the window of gathered units and
    #: gradient buckets it holds
    #: (planner.model.memory ``mfsdp_buffer_elems``), and what Megatron refuses (planner.model.stack_rules)
    megatron_fsdp: bool = False
    #: Megatron-FSDP's ``fsdp_double_buffer`` (Megatron-LM ``--fsdp-double-buffer``): the gathered weights and the
    #: unsharded gradients of the FSDP units each drawn from a fixed pool of two units
    #: (megatron/core/distributed/fsdp/src/megatron_fsdp/param_and_grad_buffer.py: ``UB_BUFFER_NUM = 2``,
    #: ``FixedPoolAllocator(name="fsdp_params" / "fsdp_grads", size=UB_BUFFER_NUM)``; megatron_fsdp.py ``_grad_acc``
    #: calls ``grad_reduce_pipeline._enforce_double_buffer_limit`` before each gradient bucket), instead of the
    #: communication window's count (``mfsdp_buffer_elems``). A row-only field (benchmarks/validate.py
    #: ``ROW_STACK_FIELDS``): the Megatron-Bridge Llama 3 performance configs set it with Megatron-FSDP
    #: (scripts/performance/configs/llama/llama3_llm_pretrain.py: ``if cfg.ddp.use_megatron_fsdp:
    #: cfg.ddp.fsdp_double_buffer = True``); off is Megatron-Core's default
    mfsdp_double_buffer: bool = False
    #: NeMo 1.x's ``optim.name: distributed_fused_adam`` (Apex's DistributedFusedAdam through NeMo's
    #: MegatronDistributedFusedAdam) over a bf16 O2 model with fp32 optimizer state keeps only the 16 low bits of the
    #: fp32 master beside the bf16 parameter (NeMo nlp/models/language_modeling/megatron_base_model.py
    #: ``setup_optimization``: ``elif optim_dtype == torch.float32 and model_dtype == torch.bfloat16:
    #: optim_kwargs['store_params'] = False; optim_kwargs['store_param_remainders'] = True``; Apex
    #: distributed_fused_adam.py refuses the remainders unless ``dtype`` is fp32 and ``param_sync_dtype`` bf16): the
    #: master is 2 bytes a parameter, not 4 (planner.model.optimizers ``precision_aware``). Not ``mcore_distributed_optim``
    #: (Megatron-Core's distributed optimizer, a whole fp32 master) and not NeMo 2 (Megatron-Core's optimizer). A row-only
    #: field (benchmarks/validate.py ``ROW_STACK_FIELDS``): set where a NeMo-Launcher row's config states the optimizer
    apex_param_remainders: bool = False
    #: combined-1F1B EP all-to-all overlap (Megatron-Core ``--overlap-moe-expert-parallel-comm``,
    #: Megatron-Bridge ``moe_a2a_overlap``): a micro-batch's dispatch/combine hides under another's
    #: layer compute (planner.model.moe.a2a_paired_share)
    moe_a2a_overlap: bool = False
    #: torchtitan's DualPipeV EP overlap (``parallelism.pipeline_parallel_expert_parallel_overlap``, default True;
    #: torchtitan/distributed/pipeline_parallel.py ``build_pipeline_schedule`` registers ``overlap_callback`` for
    #: ``OVERLAP_F_B``): each overlapped forward/backward pair runs in two threads that alternate at sync hooks around
    #: every MoE dispatch and combine (dual_pipe_v.py ``HookCoordinator``, ``DualPipeExpertParallel``), so one
    #: chunk's all-to-all runs beside the other's compute -- on the DualPipeV rows with EP > 1 only
    #: (``get_dual_pipe_v_flag``; planner.model.moe ``dualpipev_paired_share``)
    dualpipev_ep_overlap: bool = False
    #: the shared experts run on a second CUDA stream beside the routed path (dispatch, grouped GEMMs, combine)
    #: of the same micro-batch, so their GEMMs hide that path's token dispatch and combine
    #: (planner.model.moe ``shared_stream_hidden``); autograd runs their backward on that stream too.
    #: NeMo AutoModel's ``MoE.forward`` (nemo_automodel/components/moe/layers.py: "Execute shared experts in a
    #: separate stream to overlap compute with the communication for grouped experts"; in the three stored
    #: versions read, from the 2025 ``MoEArgs`` one to the LatentMoE one)
    moe_shared_stream: bool = False
    #: Megatron-Core's shared-expert overlap (``--moe-shared-expert-overlap``, TransformerConfig
    #: ``moe_shared_expert_overlap``, default off; Megatron-Bridge model providers set it, e.g. DeepSeek's
    #: ``DeepSeekModelProvider``): the all-to-all token dispatcher runs the shared experts on their own stream, fc1
    #: beside the dispatch and fc2 beside the combine (planner.model.moe ``SHARED_STREAM_SCHEDULES``, priced by the
    #: same ``shared_stream_hidden`` as AutoModel's stream). What Megatron refuses with it: planner.model.stack_rules
    #: ``shared-overlap-*``
    moe_shared_expert_overlap: bool = False
    #: the experts' grouped MLP as one fused Transformer Engine op chain (Megatron-Bridge
    #: ``cutedsl_fused_grouped_mlp``, ``use_transformer_engine_op_fuser``): no eager activation or
    #: expert-bias ops around the grouped GEMMs (planner.model.moe ``eager_expert_ops``) and, under MXFP8, the
    #: activation pass and two casts' 16-bit reads inside the GEMM epilogues (planner.model.moe ``fused_mlp_bytes``)
    moe_fused_mlp: bool = False
    #: the loss is a fused linear cross-entropy (``fused_ce_kernel``): the head GEMM and the loss run chunk by chunk over
    #: the tokens, the logits never whole (planner.model.activations_hf ``liger_flce_bytes``, step_time
    #: ``cross_entropy_bytes``). Off by default as the stacks ship it: HF ``TrainingArguments.use_liger_kernel``
    #: defaults to False (transformers/training_args.py); ``recommend`` tries it where it is what makes a plan fit
    fused_cross_entropy: bool = False
    #: the fused linear cross-entropy the stack's code can switch on (``fused_cross_entropy``), "" where none: "liger"
    #: for HF Trainer (``use_liger_kernel=True`` calls liger_kernel.transformers ``_apply_liger_kernel_to_instance``,
    #: whose model forward (``lce_forward``) computes the training loss with ``LigerFusedLinearCrossEntropyLoss`` and
    #: returns no logits). Megatron-Core's ``--cross-entropy-loss-fusion`` fuses the loss after a whole-logits head
    #: GEMM (``Stack.ce_unfused``), torchtitan's ``cross_entropy_loss`` is eager ``F.cross_entropy`` on whole logits:
    #: neither chunks
    fused_ce_kernel: str = ""
    #: transformer layers whose linears stay 16-bit under the fp8/fp4 recipe: Megatron-Core
    #: ``--first-last-layers-bf16`` with ``--num-layers-at-start-in-bf16`` + ``--num-layers-at-end-in-bf16``
    #: (megatron/core/fp8_utils.py ``is_first_last_bf16_layer``: those layers run outside the fp8/fp4
    #: autocast). Megatron-Bridge's Nemotron 3 Super NVFP4 preset keeps the last 14 of 88 in BF16
    #: (training/mixed_precision.py ``nemotron_3_super_bf16_with_nvfp4_mixed``, the paper's "final
    #: 15%"); its plain ``bf16_with_nvfp4_mixed`` and ``bf16_with_mxfp8_mixed`` keep none. The planner keeps
    #: them at the end (``--num-layers-at-end-in-bf16``, what --emit writes): each is a whole 16-bit layer on
    #: the pipeline stage that holds it (step_time ``slowest_stage``, pipeline ``lp16_layers``); a hybrid model's kept
    #: layers are the blocks its pattern puts there (step_time ``kept_layer_kinds``)
    lp_bf16_layers: int = 0
    #: the first layers kept 16-bit the same way (``--num-layers-at-start-in-bf16``: global layers ``< N``, on the
    #: first stage's first chunk; pipeline ``lp16_layers``). Megatron-Bridge's ``bf16_with_fp8_current_scaling_mixed``
    #: keeps 1 + 1, ``nemotron_h_bf16_with_fp8_current_scaling_mixed`` 2 + 2 (training/mixed_precision.py), and
    #: ``NemotronHModelProvider`` sets ``first_last_layers_bf16 = True`` (Megatron-Core's 1 + 1); the performance
    #: scripts turn it off for FP8-CS (scripts/performance/utils/precision.py ``get_precision_config("fp8_cs")``:
    #: "Disable BF16 Transformer layers in the performance config"; NeMo 2's scripts/performance/helpers.py the same)
    lp_bf16_first_layers: int = 0
    #: Megatron-Core's switch itself (``--first-last-layers-bf16``, TransformerConfig ``first_last_layers_bf16``):
    #: set in a job with neither count, it keeps Megatron-Core's defaults, 1 first and 1 last layer
    #: (``num_layers_at_start_in_bf16 = 1``, ``num_layers_at_end_in_bf16 = 1``; ``with_options``); a count set
    #: alone turns it on with the other count 0. True on a resolved stack whenever a count is
    first_last_layers_bf16: bool = False
    #: the multi-token-prediction module's linears stay 16-bit under the fp8/fp4 recipe (Megatron-Core
    #: ``keep_mtp_spec_in_bf16``; Megatron-Bridge recipes/nemotronh/nemotron_3_super.py sets it True, every
    #: precision). The MTP projection and the MTP block (a hybrid model's "*E", a plain model's decoder layer).
    #: Without it the MTP module runs an fp8 recipe even under --first-last-layers-bf16 (Megatron-Core's MTP
    #: layers take the global fp8 context, multi_token_prediction.py ``_proj_and_transformer_layer``); under
    #: NVFP4 it is 16-bit either way (layer_ops ``mtp_runs_16bit``)
    lp_bf16_mtp: bool = False
    #: Megatron-Core's interleaved-schedule micro-batch group (``--microbatch-group-size-per-virtual-pipeline-stage``,
    #: ModelParallelConfig ``microbatch_group_size_per_vp_stage``): micro-batches a rank runs through one model chunk
    #: before the next. None: Megatron's default, pp (set in ``__post_init__``). Megatron runs pp <= g <= m with
    #: ``m % g`` 0 or >= pp (planner.model.stack_rules "interleaved-m"); a larger g holds ``(v - 1)(g - pp)`` more
    #: chunk forwards in the warm-up (planner.model.memory_stages ``inflight_microbatches``) and, every group keeping >= pp
    #: micro-batches, no more bubble (planner.model.pipeline ``vpp_group_size``)
    microbatch_group_size: int | None = None
    #: micro-batches per run of the pipeline schedule, where the training loop runs the schedule once per
    #: gradient-accumulation step rather than once per optimizer step: NeMo AutoModel's loops (recipes/llm/
    #: benchmark.py ``run_benchmark``, train_ft.py) call ``_forward_backward_step`` for each of ``ga_steps =
    #: global_batch / (local_batch_size x dp)`` batches, and with PP each call is one torch.distributed.pipelining
    #: ``schedule.step`` over the local batch (``local_batch_size / pp_microbatch_size`` micro-batches), which fills
    #: and drains the pipeline: the bubble is paid once per run (planner.model.pipeline ``step_composition``), and a
    #: held FSDP stage (``pp_fsdp_unsharded``) is reduce-scattered, resharded and gathered again per run unless the
    #: stack defers that sync to the optimizer step (``fsdp_defer_sync``: AutoModel's patched
    #: ``backward_maybe_with_nosync``). torchtitan's loop is the same (trainer.py 0.3 ``train_step``: one
    #: ``forward_backward_step`` per ``gradient_accumulation_steps = global_batch / (local_batch_size x dp)``
    #: batch, each one ``pp_schedule.step`` over ``local_batch_size / pipeline_parallel_microbatch_size``
    #: micro-batches; no deferred sync, so pipelining's ``backward_maybe_with_nosync`` reduce-scatters a held
    #: FSDP2 stage at each run's last backward): planner.present.emit ``titan_local_batch`` writes
    #: local_batch_size = micro-batch x this. The run also sizes torch.distributed.pipelining's receive buffers
    #: and the micro-batches in flight (pipeline ``run_microbatches``). None: one run per optimizer step
    #: (Megatron-Core's ``forward_backward_func`` over all the step's micro-batches; torchtitan at
    #: local_batch_size = global / dp)
    pp_pass_microbatches: int | None = None
    #: the stack captures CUDA graphs as Megatron-Core does (``cuda_graph_impl`` below): the Megatron-Core stacks
    has_cuda_graphs: bool = False
    #: which options (``OPTIONS``) the stack's code has a switch for, where it is not every stack's (``OPTION_HOLDERS``
    #: reads these; a job that sets one the stack lacks is refused, and the search tries none of them):
    #:
    #: * ``has_compile``: a torch.compile switch (torchtitan ``compile.enable``, HF ``TrainingArguments.torch_compile``,
    #:   Composer/llm-foundry ``compile_config``, DeepSpeed ``compile``, AutoModel ``compile``, ``torch.compile(model)``
    #:   under plain DDP). Not Megatron-LM / Megatron-Core (no torch.compile of the model: its launch has no such flag,
    #:   planner.present.emit writes none), Megatron-DeepSpeed, metaseq and DLE ConvNets (torch < 2.0 code; plain
    #:   pytorch-ddp takes the ConvNets entry's settings, whose generic-model time has no compiled path), nor the XLA
    #:   stacks, which always compile the whole step (``compile`` fixed on)
    #: * ``tp_overlaps``: the TP communication overlaps it offers (``tp_overlap`` values): TE userbuffers on the
    #:   Megatron-Core stacks, async TP on torchtitan, plain NCCL TP elsewhere; () = no tensor parallelism at all
    #:   (the convnet stacks: DDP only)
    #: * ``has_reshard``: an FSDP reshard-after-forward switch for ZeRO-3 (FSDP / FSDP2 ``reshard_after_forward``,
    #:   torchtitan ``fsdp_reshard_after_forward``, FSDP ``SHARD_GRAD_OP`` in HF accelerate and Composer, fairscale
    #:   FSDP in metaseq, Megatron's ``--torch-fsdp2-no-reshard-after-forward``). DeepSpeed ZeRO-3 (and so
    #:   Megatron-DeepSpeed) re-partitions every module after its forward and has no switch
    #:   (deepspeed/runtime/zero/config.py has none); Megatron-LM 2021-22 and NeuronX Distributed have no ZeRO-3;
    #:   DDP none either
    #: * ``has_channels_last``: the convnet stacks' memory-format switch (``channels_last``)
    #: * ``has_pp_pass``: ``pp_pass_microbatches``, per-accumulation-step pipeline runs: NeMo AutoModel's, torchtitan's
    #:   (its ``local_batch_size`` over ``pipeline_parallel_microbatch_size``)
    #: * ``has_fused_qkv``: ``fused_qkv``, torchtitan's FusedQKVLinear switch
    #: * ``has_tp_gather_per_linear``: ``tp_gather_per_linear``, a torch DTensor TP plan's per-linear input gathers
    #: * ``has_loss_parallel``: ``loss_parallel``, torch DTensor's loss parallel (torchtitan's ``disable_loss_parallel``); also ``loss_eager_16bit``
    #: * ``has_tp_embedding_replicated``: ``tp_embedding_replicated``, a torch DTensor TP plan without the embedding
    #: * ``has_grad_accum_fusion``: ``gradient_accumulation_fusion``, Megatron's switch for fusing the weight-gradient
    #:   accumulation into the wgrad GEMM (Megatron-LM arguments.py ``--no-gradient-accumulation-fusion``,
    #:   ``store_false``, dest ``gradient_accumulation_fusion``: on unless passed): the Megatron-Core stacks and
    #:   legacy Megatron-LM. Not Megatron-DeepSpeed (its legacy layers under the DeepSpeed engine leave accumulation
    #:   to autograd: ``grad_accum_pass`` fixed on), nor the FSDP / DDP stacks (no such kernel)
    #: * ``has_param_gather``: a switch for overlapping the parameter all-gather (``overlap_param_gather``): Megatron-Core's
    #:   ``--overlap-param-gather``, FSDP's prefetch (HF accelerate ``fsdp_backward_prefetch`` / ``forward_prefetch``,
    #:   Composer's FSDP config, fairscale FSDP), FSDP2's implicit prefetch (torchtitan, AutoModel), XLA's async
    #:   all-gather (MaxText). Not the convnet stacks (DDP keeps every parameter whole on every rank and all-reduces
    #:   gradients only, torch.nn.parallel.DistributedDataParallel), nor the stacks whose gather runs as their code
    #:   fixes it, after the optimizer step (registry ``overlap_param_gather=False``): DeepSpeed ZeRO-1/2
    #:   (stage_1_and_2.py ``all_gather_dp_groups`` at the end of ``step()``; ZeRO-3 prefetches whatever this says) and
    #:   Megatron-DeepSpeed on it, legacy Megatron-LM 2021-22 (no --overlap-param-gather yet), NeuronX Distributed
    #: * the fp8 recipes (``fp8_recipe`` values): the table of the code that runs the stack, planner.model.stack_rules
    #:   ``FP8_RECIPES`` (``fp8_recipes`` below)
    has_compile: bool = True
    tp_overlaps: tuple[str, ...] = ("none",)
    has_reshard: bool = True
    has_channels_last: bool = False
    has_pp_pass: bool = False
    has_fused_qkv: bool = False
    has_tp_gather_per_linear: bool = False
    has_loss_parallel: bool = False
    has_tp_embedding_replicated: bool = False
    has_grad_accum_fusion: bool = False
    has_param_gather: bool = True
    #: the stack has a ZeRO-1 path (a sharded optimizer over replicated parameters and gradients). False for the HF
    #: Trainer on accelerate: its data parallelism is DDP (ZeRO-0) or FSDP (``TrainingArguments.fsdp`` "full_shard" /
    #: "shard_grad_op" / "hybrid_shard" / "hybrid_shard_zero2": torch ShardingStrategy FULL_SHARD = ZeRO-3,
    #: SHARD_GRAD_OP = ZeRO-2, HYBRID_SHARD / _HYBRID_SHARD_ZERO2 = HSDP; FSDP2 ``reshard_after_forward`` True / False
    #: the same two), none of which shards the optimizer alone; the Trainer's ZeRO-1 is DeepSpeed's
    #: (``TrainingArguments.deepspeed``, integrations/deepspeed.py), the deepspeed stack (rule ``hf-trainer-zero1``)
    has_zero1: bool = True
    #: the stack has a ZeRO-3 path (parameters sharded). False for Intel's Megatron-LM fork (``megatron-core-gaudi``):
    #: it is Megatron-Core core_r0.9.0, whose megatron/training/arguments.py ``_add_distributed_args`` has
    #: ``--use-distributed-optimizer`` (ZeRO-1) and neither ``--use-torch-fsdp2`` nor Megatron's own FSDP
    #: (HabanaAI/Megatron-LM @004966d2); rule ``megatron-fork-zero``
    has_zero3: bool = True
    #: the code base the entry prices where it is not the upstream project its name says (a vendor's fork), as the
    #: stack line says it (``describe``); "" for the upstream code
    fork: str = ""
    #: the stack's ZeRO-3 leaves part of a bitsandbytes base whole on every rank. DeepSpeed ZeRO-3 (the deepspeed
    #: stack; qlora54b) partitions ``nn.Parameter`` data only (deepspeed/runtime/zero/partition_parameters.py
    #: ``_partition_param``: ``param.ds_tensor`` the rank's slice, ``free_param`` the rest): the packed weights, float
    #: ``bnb_4bit_quant_storage`` elements as its ZeRO-3 QLoRA needs (peft docs accelerate/deepspeed.md), are
    #: partitioned and each layer's ``QuantState``, an attribute of ``Params4bit``, stays whole, as under FSDP1.
    #: accelerate's FSDP (``fsdp_version``) leaves on every rank (planner.model.finetune ``bitsandbytes_layer_bytes``,
    #: planner.model.memory ``state_weights``): under FSDP2 (``fsdp_version`` 2, and every CP > 1 row: accelerate's
    #: torch context parallelism needs FSDP2, rule ``hf-trainer-cp-fsdp``) the quantised linears themselves -- accelerate PR #3987 (merged 2026-04,
    #: utils/fsdp_utils.py ``fsdp2_prepare_model``) passes non-floating ``Params4bit`` to ``fully_shard`` as
    #: ``ignored_params`` (before it they crashed or trained silently wrong, issue #3983), and a float
    #: ``bnb_4bit_quant_storage`` under ``fully_shard`` loses the weights' ``quant_state`` (bitsandbytes issue #1945,
    #: open); under FSDP1 with a float ``bnb_4bit_quant_storage`` (the sharded FSDP-QLoRA path: peft docs
    #: accelerate/fsdp.md, bitsandbytes docs fsdp_qlora.md, Answer.AI's fsdp_qlora) the packed weights are sharded
    #: and their ``QuantState`` (no parameter) stays whole. Until qlora54 only at CP > 1: FSDP2 at CP 1 sharded them;
    #: until qlora54b DeepSpeed's states were sharded with the packed weights (named ``bnb_whole_under_fsdp`` then)
    bnb_whole_at_zero3: bool = False
    #: the selective recompute variants it runs (``selective`` values): Megatron's attention core, torchtitan's op /
    #: layer SAC, AutoModel's op SAC; () = no selective recompute (the convnet stacks)
    selectives: tuple[str, ...] = ("attention_core",)
    #: CUDA graphs (Megatron-Core ``--cuda-graph-impl``, megatron/training/arguments.py): "none"; "transformer_engine"
    #: (TE ``make_graphed_callables`` per layer, over the parts ``cuda_graph_scope`` names); "local" (Megatron-Core's
    #: own capture: the whole layer with no scope, or the whole forward-backward with ``full_iteration``). What a
    #: captured part saves is host time (``cuda_graph_host_ops``); what Megatron-Core refuses, ``cuda_graph_parts``.
    #: Not modelled: the memory graphs hold (static input / output buffers, the capture's private pool: no sourced size)
    cuda_graph_impl: str = "none"
    #: ``--cuda-graph-scope``: attn, mlp, moe, moe_router, moe_preprocess, mamba, full_iteration; () = the impl's default
    cuda_graph_scope: tuple[str, ...] = ()

    def with_options(self, **opts) -> "Stack":
        bad = sorted(set(opts) - set(OPTIONS))
        if bad:
            raise InputError("training.framework", f"unknown option(s) {', '.join(bad)}; known: {', '.join(OPTIONS)}")
        if opts.get("cp_comm_type") is not None:  # Megatron's one type, or one a layer (``cp_comm_layers``)
            opts["cp_comm_type"] = cp_comm_layers(opts["cp_comm_type"])
        for k in OPTIONS:  # values outside the vocabulary first: the option's own words
            for v in _option_items(k, opts.get(k)):
                if k in OPTION_VALUES and v not in OPTION_VALUES[k]:
                    raise InputError(f"training.framework.{k}", f"{v!r}; known: {', '.join(OPTION_VALUES[k])}")
        for k in OPTIONS:  # an option the stack has no switch for (``OPTION_HOLDERS``), then a value it does not offer
            # (a switch set off where the stack runs it off anyway -- ``compile: false`` on megatron-core,
            # ``optimizer_offload: false`` on pytorch-ddp -- states a fact, asks for nothing: accepted)
            if opts.get(k) is not None and not (opts[k] is False and getattr(self, k, None) is False):
                for v in _option_items(k, opts[k]):
                    check_option(self, k, v)
        if isinstance(opts.get("remat_tensors"), dict):  # a job's mapping, held as sorted pairs (the stack is a key)
            opts["remat_tensors"] = tuple(sorted(opts["remat_tensors"].items()))
        if "cuda_graph_scope" in opts and opts["cuda_graph_scope"] is not None:
            opts["cuda_graph_scope"] = tuple(opts["cuda_graph_scope"])
        _check_cuda_graphs(self, opts.get("cuda_graph_impl") or self.cuda_graph_impl,
                           opts["cuda_graph_scope"] if opts.get("cuda_graph_scope") is not None else self.cuda_graph_scope)
        out = replace(self, **_as_fields(opts),
                      given_options=self.given_options | {k for k, v in opts.items() if v is not None})
        if out.tp_overlap == "async_tp" and not out.compile:
            # async TP is an inductor pass (micro-pipeline TP): torchtitan parallelize.py raises "Async TP requires
            # torch.compile". Asked for both ways, refuse; left at the stack's default, eager runs plain TP
            if opts.get("tp_overlap") == "async_tp":
                raise InputError("training.framework.tp_overlap", "async_tp is a torch.compile pass (torchtitan: "
                                                                  "'Async TP requires torch.compile'); set compile: true")
            out = replace(out, tp_overlap="none")
        if opts.get("ac_freq") is not None and out.selective != "layer":
            # the n of torchtitan's layer SAC (selective_ac_option = "<n>"); with "op" torchtitan has no n
            raise InputError("training.framework.ac_freq", f"only with selective: layer (torchtitan layer SAC), not "
                                                           f"{self.name}'s selective {out.selective}")
        if out.offload_device != "cpu" and not (out.optimizer_offload or out.param_offload):
            # a device for offloads that are off: DeepSpeed reads nvme_path only under offload_optimizer / offload_param
            raise InputError("training.framework.offload_device",
                             f"places optimizer_offload / param_offload; set one of them true for {out.offload_device}")
        given = nvme_rate_given(opts)
        if len(given) == 2:  # the rate stated, and a layout to derive it from: one of them says nothing
            raise InputError("training.framework.nvme_gbps", "states the NVMe rate that nvme_stripe derives from the "
                                                             "catalog's drives; give one of them")
        if given and opts.get("offload_device") == "cpu":  # DeepSpeed reads nvme_path only under device nvme
            raise InputError(f"training.framework.{given[0]}", "describes the NVMe of offload_device: nvme; this job "
                                                               "offloads to cpu")
        if out.activation_offload_layers is not None and not out.activation_offload:
            # a layer count of an offload that is off: Megatron-Core reads cpu_offloading_num_layers only under
            # --cpu-offloading (TransformerConfig.cpu_offloading)
            raise InputError("training.framework.activation_offload_layers",
                             "counts the layers of activation_offload; set activation_offload: true")
        out = _resolve_fsdp_options(out, opts)
        out = _check_remat_policy(out, opts)
        out = _first_last_counts(out, opts)
        if out.loss == "masked_ce":
            _check_automodel_loss(out, opts)
        if out.first_last_layers_bf16 and out.fp8_recipe == "delayed":
            # Megatron-Core 0.16.1 TransformerConfig.__post_init__: "Delayed scaling does not support first / last
            # layer in BF16."
            field = next((k for k in LP16_OPTIONS if opts.get(k)), "lp_bf16_layers")
            raise InputError(f"training.framework.{field}", "Megatron-Core refuses 16-bit first / last layers "
                                                            "with delayed scaling; use fp8_recipe tensorwise or mxfp8")
        if out.use_reentrant and out.recompute_early_stop:  # torch/utils/checkpoint.py: the non-reentrant one's only
            # asked for both, refuse; left at the stack's default (hf-trainer's on: transformers 5), reentrant has none
            if "recompute_early_stop" in out.given_options:
                raise InputError("training.framework.recompute_early_stop",
                                 "torch's reentrant checkpoint (use_reentrant: true) re-runs the whole block: "
                                 "no early stop")
            out = replace(out, recompute_early_stop=False)
        return out

    def for_model(self, model) -> "Stack":
        """The entry as its code runs ``model``: ``dense_defaults`` for a model without MoE layers (each option among
        them only where not given: ``given_options``), and a ``moe_only`` option set on such a model refused. Once per
        stack (``model_kind``); ``model`` None (no model at hand) leaves the entry as it is."""
        if model is None or self.model_kind is not None:
            return self
        moe = getattr(model, "moe", None) is not None
        if not moe:
            for option, why in self.moe_only:
                if getattr(self, option, False):
                    # fitted: the why's aside gives way to the remedy, which the cap cut in its middle (qa58)
                    raise InputError(f"training.framework.{option}", fit_message(
                        f"{model.name or 'the model'} has no MoE layers: {why}; leave {option} out"))
        # one object per (entry, kind): a search's LayerMemo keys the stack by identity (step_time.LayerMemo.value),
        # so a fresh copy a call grew the memo by an entry a call and kept each copy alive
        # (tests/test_layer_memo_bounded27.py); given_options is not in the entry's equality, so it is in the key
        key = (self, self.given_options, moe)
        got = _FOR_MODEL.get(key)
        if got is None:
            got = _FOR_MODEL[key] = (replace(self, model_kind="moe") if moe else
                                     replace(self, model_kind="dense", **{f: v for k, sets in self.dense_defaults
                                                                          if k not in self.given_options
                                                                          for f, v in sets}))
            if len(_FOR_MODEL) > FOR_MODEL_KEPT:
                _FOR_MODEL.popitem(last=False)
        else:
            _FOR_MODEL.move_to_end(key)
        return got

    @property
    def one_replica_zero(self) -> int:
        """The ZeRO stage a layout with one replica (DP x CP = 1) launches at: 0, where ZeRO shards nothing, or 1
        where the stack's optimizer needs Megatron's distributed optimizer at any DP: its optimizer offload
        (``optimizer_offload_zero``, QA 45) and its precision-aware optimizer (stack_rules ``mcore-pa-zero``: a DP 1
        plan with it was refused by ``estimate`` at the default ZeRO-0 and missing from ``recommend``)."""
        if self.optimizer_offload:
            return int(self.optimizer_offload_zero)
        return int(self.precision_aware_optimizer)

    def kind_default(self, option: str) -> bool:
        """Whether ``option`` holds the model kind's default (``dense_defaults``), not a value set: a plan's record
        writes it null (the stack default), so that the record read back as a job is that default again -- an
        explicit ``reshard_after_forward: true`` reshards a dense AutoModel stage under PP too, the default does not."""
        return (self.model_kind == "dense" and option not in self.given_options
                and option in dict(self.dense_defaults))

    @property
    def layer_sac_every(self) -> int:
        """n of torchtitan's layer SAC where the stack's selective recompute is it (``selective`` "layer"), else 0:
        the ``every`` of planner.model.pipeline.recomputed_fraction."""
        return (self.ac_freq or LAYER_SAC_FREQ) if self.selective == "layer" else 0

    @property
    def cp_kind(self) -> str:
        """How the CP exchange is priced (planner.model.layer_ops ``cp_comm``, ``CP_EXCHANGE_WORDS``): the stack's
        fixed ``cp_exchange``, or where it offers ``cp_comm_types`` the type chosen (``CP_COMM_KINDS``). A per-layer
        list of one type repeated is that type's; a mixed list has no one kind: its callers price each type apart
        (``cp_comm_mix``), and asking is a bug."""
        if not self.cp_comm_types:
            return self.cp_exchange
        if isinstance(self.cp_comm_type, tuple):
            if len(set(self.cp_comm_type)) == 1:
                return CP_COMM_KINDS[self.cp_comm_type[0]]
            raise ValueError("a per-layer cp_comm_type has one kind a layer: price each (stacks.cp_comm_mix)")
        return CP_COMM_KINDS[self.cp_comm_type]

    def fuses_grad_accum(self, zero=None):
        """``gradient_accumulation_fusion`` as a plan at ZeRO ``zero`` (a number or an array; None: the option as
        set) runs it (``LAYOUT_FORCES``): a Megatron-Core ZeRO-3 plan without Megatron-FSDP is torch FSDP2, whose
        launch passes ``--no-gradient-accumulation-fusion`` whatever the option (planner.present.emit
        ``MEGATRON_FSDP2_FLAGS``). Until qa68 such a plan's stack line and JSON read "on"."""
        return option_at(self, "gradient_accumulation_fusion", zero)

    @property
    def gradient_accumulation_fusion(self) -> bool:
        """Megatron's ``gradient_accumulation_fusion`` as the stack runs it: the wgrad GEMM adds the weight gradient
        into the accumulated one itself (``fused_weight_gradient_mlp_cuda.wgrad_gemm_accum_fp32``, or TE's
        ``fuse_wgrad_accumulation``), so no separate accumulation pass. The job option's spelling of
        ``not grad_accum_pass`` (``OPTION_FIELDS``): one fact, held once."""
        return not self.grad_accum_pass

    @property
    def ce_runs_unfused(self) -> bool:
        """Megatron's vocab-parallel loss runs unfused, op by op on an fp32 copy (layer_ops.cross_entropy_bytes
        ``unfused``): the legacy stacks (``ce_unfused``) and Megatron-Core without ``--cross-entropy-loss-fusion``
        (``cross_entropy_fusion`` "none")."""
        return self.ce_unfused or self.cross_entropy_fusion == "none"

    @property
    def loss_code(self) -> str:
        """The loss code that runs (``LOSS_TRANSIENT_BYTES`` key): the compiled one under compile where the stack
        compiles its loss (``loss_compiles``); TE's kernel where Megatron-Core runs it (``cross_entropy_fusion``)."""
        if self.loss_eager_16bit:  # KempnerForge's eager 16-bit loss, whatever compiles (kf56b)
            return "torch_ce_16bit_held"
        if self.cross_entropy_fusion == "te":
            return "te_parallel_ce"
        if self.cross_entropy_fusion == "native":
            return "megatron_ce_fused"
        if self.loss == "masked_ce" and self.loss_fn != "masked_ce":  # another AutoModel loss class (loss_fn)
            return self.loss_fn
        if self.loss == "masked_ce" and not self.ce_fp32_upcast:  # AutoModel's loss on the 16-bit logits
            return "masked_ce_16bit"
        return f"{self.loss}_compiled" if (self.compile and self.loss_compiles) else self.loss

    @property
    def recipe(self) -> LowPrecisionRecipe:
        return RECIPES[self.fp8_recipe]

    @property
    def host_ops_scale(self) -> float:
        """torch.compile runs each block as one compiled graph: Python/autograd dispatch per
        fused kernel, not per aten op (~10 Triton kernels + the GEMMs for a Llama block, of ~40
        eager ops: torchtitan compiles per TransformerBlock, ``apply_compile``)."""
        return 0.4 if self.compile else 1.0

    @property
    def elementwise_fused(self) -> bool:
        """Norm + residual add fused into one kernel, the attention-output layout copy gone
        (inductor; TE's fused LayerNormLinear does the same for the norms)."""
        return self.compile or self.fused_norm_linear

    def autocasts(self, t) -> bool:
        """The forward runs under ``torch.autocast`` over fp32 weights: a stack that runs the HF
        code with ``mixed_precision: amp`` (HF Trainer ``bf16=True``), or a job whose
        ``training.weights`` is ``amp`` (Composer ``precision: amp_bf16``, plain PyTorch AMP) on a
        stack that does not put the module in bf16 itself (DeepSpeed's bf16 engine). 16-bit
        precisions only: fp32 runs no autocast, fp8 is the low-precision recipe's. On the Megatron-Core stacks
        ``weights: amp`` is Megatron-Core's own autocast mode (ModelParallelConfig ``enable_autocast``:
        pipeline_parallel/schedules.py ``forward_step`` runs the forward under ``torch.autocast(autocast_dtype)``;
        Megatron-Bridge ``MixedPrecisionConfig.autocast_enabled`` with ``bf16`` off, so no ``Float16Module``, which
        under ``--bf16`` casts the model itself: ``weights: megatron``); the 2021-22 Megatron-LM has no such path and
        refuses it (stack_rules ``megatron-lm-amp``, small32). On megatron-deepspeed it is DeepSpeed's
        ``torch_autocast`` config section (the stack's comment in ``STACKS``, small32b)."""
        amp = self.mixed_precision == "amp" or (self.mixed_precision is None and t.weights == "amp")
        return amp and t.precision in ("bf16", "fp16")

    def head_seq(self, t):
        """The positions a sequence its MLM head and loss run on, as planner.spec.params ``head_positions`` takes them:
        ``training.head_tokens_per_seq`` where its BERT code gathers the masked ones (``head_on_masked_positions``
        True, or not read: None), else None, every position (the HF model code's, which refuses the field:
        stack_rules ``hf-head-positions``). The one rule the step time's head (layer_ops ``lm_head``) and the
        memory's loss and HF walk (memory_activations) read."""
        return None if self.head_on_masked_positions is False else t.head_tokens_per_seq

    def casts_adapters(self, t) -> bool:
        """Whether a LoRA's peft adapters are 16-bit on this stack (``casts_module_to_half`` at a 16-bit
        ``training.precision``, the module cast): their weights and gradients 2 B, the fp32 master in the optimizer's
        ZeRO rows (planner.model.memory ``adapter_states``), and no ``_cast_input_dtype`` copy of their input
        (finetune ``frozen_layer_activation_bytes``) -- the pure-bf16 peft runs (tests/data/peft_truth.json
        ``families`` at precision bf16, ``amp_families`` ``pure_bf16``: ``model.to(torch.bfloat16)`` after
        ``get_peft_model``; lorads50)."""
        return self.casts_module_to_half and self.mixed_precision == "bf16" and t.precision in CAST_PRECISIONS

    def autocast_finds_fp32(self, zero):
        """Per ZeRO stage ``zero`` (array), whether the forward under ``autocasts`` holds fp32 weights for autocast to
        cast (``AUTOCAST_CAST_BYTES``, ``memory.WEIGHT_COPY_BYTES``): below ZeRO-3, where the wrapper replicates
        the fp32 parameters (DDP, ZeRO-1/2 optimizer sharding). FSDP hands the forward 16-bit parameters, and an
        FSDP2 stack's ZeRO-2 is FSDP2 too (``fsdp2_dp``: ``fully_shard`` without reshard after forward): torch
        ``_fsdp_param.py`` ``FSDPParam.all_gather_inputs`` casts the fp32 shard to ``mp_policy.param_dtype`` for
        the all-gather whether it gathers from the full shard or, after a post-forward reshard, from the smaller
        one, and the unsharded parameter is the all-gather output itself (``init_unsharded_param``), so at any
        ``reshard_after_forward`` the forward and backward see bf16 parameters and autograd no fp32 leaf to cast
        back to (torchtitan's ``maybe_enable_amp`` turns autocast off under FSDP for the same reason). Until
        2026-12-04 an FSDP2 stack's ZeRO-2 paid the casts (Llama-3-8B, torchtitan, 8 p4d nodes, mb 1: 68 ms of
        ``compute_memory_bound`` per step) and held the 16-bit copy beside fp32 weights whole (44.9 GiB of weights
        a GPU where FSDP2 holds 15.4). An FSDP1 stack's ZeRO-2 (``fsdp_zero2_param_dtype``: SHARD_GRAD_OP with a
        16-bit ``param_dtype``) likewise: until small31b Llama-3-8B under llm-foundry at ZeRO-2 paid the casts."""
        return np.asarray(zero) < (2 if self.fsdp2_dp or self.fsdp_zero2_param_dtype else 3)

    def fp32_stream(self, t, zero):
        """Per ZeRO stage ``zero`` (array), whether the residual stream -- and with it the norms' outputs, the rotary
        tables and q / k after RoPE, the 4-D masks -- is fp32: the forward autocasts (``autocasts``) over fp32
        weights (``autocast_finds_fp32``). The embeddings' output is the stream's dtype, and ``nn.Embedding`` is on no
        autocast list, so it is the weight's: fp32 where the wrapper replicates the fp32 parameters, bf16 where FSDP
        gathers them at ``param_dtype``. Under the HF Trainer both hold at once at ZeRO-2/3: accelerate's
        ``prepare_model`` wraps ``model.forward`` in ``autocast`` under ``native_amp`` whatever the distributed type
        (accelerator.py: ``model.forward = convert_outputs_to_fp32(autocast_context(model_forward_func))``), and its
        FSDP plugin gathers in the mixed precision (accelerate tests/test_fsdp.py ``test_mixed_precision``:
        ``ACCELERATE_MIXED_PRECISION=bf16`` gives ``MixedPrecision(param_dtype=bf16, reduce_dtype=bf16,
        buffer_dtype=bf16)``), so autocast finds bf16 weights and a bf16 stream and its casts are no-ops (transformers
        llama ``LlamaRMSNorm``: ``self.weight * hidden_states.to(input_dtype)``, bf16 in and out;
        ``LlamaRotaryEmbedding``: ``cos.to(dtype=x.dtype)``). One rule for the step time (layer_ops
        ``LayerContext.fp32s``: the eager RoPE form, the eager softmax's passes) and the HF memory (activations_hf
        ``hf_table_precision``: the amp table on an fp32 stream, the bf16 one on a bf16 stream; hffsdp47).
        A LoRA over a 16-bit frozen base (``finetune.base_weights`` bf16, the default: the checkpoint loaded at
        ``torch_dtype=bfloat16`` as peft fine-tunes run) has a bf16 stream at every ZeRO stage: its frozen embedding
        is bf16, ``nn.Embedding`` is on no autocast list, so autocast hands bf16 on whatever wraps the model (the fp32
        adapters, peft's ``autocast_adapter_dtype``, cast their own input: ``_cast_input_dtype``) -- the no-casts rule
        its step reads (step_time: ``frozen_base``). A frozen base's memory reads this rule too, row by row at its
        ZeRO stage (memory_activations ``frozen_stream_keys``, finetune ``frozen_saves_precision``; until lora48 it
        read fp32 for ``mode: qlora`` only, whatever the stage).
        Until QA 86 the step priced it fp32 below FSDP: gpt-oss-20b LoRA on one H100 (eager attention), 117.2 s a
        step at ZeRO-0 against 8.59 s on each of 8 at ZeRO-2 for the same micro-batch. A bitsandbytes base (QLoRA,
        or LoRA over int8) keeps the fp32 stream: ``prepare_model_for_kbit_training`` casts the embedding to fp32; under
        FSDP its gather hands the embedding bf16 as for any base. Measured on peft runs (tests/data/peft_truth.json
        ``stream``: the embedding's output fp32 over fp32 / int8 / NF4 bases, bf16 over bf16, bf16 under FSDP2's
        ``param_dtype=bf16`` over fp32 and NF4; lora48)."""
        from planner.model.finetune import base_weights  # (finetune imports no stack)
        frozen16 = getattr(t, "mode", None) in ("lora", "qlora") and base_weights(t) == "bf16"
        return np.asarray(self.autocasts(t) and not frozen16) & self.autocast_finds_fp32(zero)

    def vocab_tiles(self, m) -> int:
        """The tiles the loss runs in on model ``m``: ``num_vocab_tiling``, or 1 for a classifier head (its
        ``num_labels`` logits on the [CLS] token, planner.spec.params ``head_positions``: no vocabulary and no token
        rows to tile; planner.spec.load notes the option as changing nothing there, QA 102)."""
        return 1 if getattr(m, "output_head", "lm") == "classifier" else self.num_vocab_tiling

    def options(self, model=None, training=None, zero: int | None = None) -> dict:
        """The option values of this stack, for outputs: each option (``OPTIONS``) the stack has (``holds``) and, given
        the job's ``model`` and ``training``, that the job uses (``OPTION_USES``), so that a plan's stack record reads
        back as a job's ``training.framework`` with no refusal or note (until 2026-12-03 the record listed every
        option, ``channels_last: true`` on megatron-core too, which the job refuses). ``zero``: the plan's ZeRO
        stage, which leaves out an option the plan does not use there (``layout_uses``)."""
        return {k: _record_value(k, option_at(self, k, zero)) if forced(self, k, zero)
                else None if self.kind_default(k) else _record_value(k, option_at(self, k, None)) for k in OPTIONS
                if holds(self, k) and (model is None or training is None or OPTION_USES.get(k, _always)(model, training))
                and (zero is None or bool(layout_uses(self, k, zero)))}

    def raf_under_pp(self, pp_on: bool) -> bool:
        """Whether its FSDP reshards after forward with (``pp_on``) or without a pipeline (``pp_reshard_after_forward``
        under one, else the ``reshard_after_forward`` option)."""
        if pp_on and self.pp_reshard_after_forward is not None:
            return self.pp_reshard_after_forward
        return self.reshard_after_forward

    def reshard_label(self, zero: int | None = None, pp: int | None = None) -> str | None:
        """``reshard_after_forward`` as a plan at ZeRO ``zero`` and PP ``pp`` runs it (``zero`` None: the option as
        set). The option is ZeRO-3's: an FSDP2 stack's ZeRO-2 never reshards (``fsdp2_dp``), a stack that keeps the
        stage gathered under PP does not either (``pp_fsdp_unsharded``), and below that there are no sharded weights
        to gather, nor a switch under Megatron-FSDP (``layout_uses``; None: not listed)."""
        on = "on" if self.reshard_after_forward else "off"
        if zero is None:
            return on
        if zero == 2 and self.fsdp2_dp:
            return "off (ZeRO-2: FSDP2 without reshard)"
        if not layout_uses(self, "reshard_after_forward", zero):
            return None
        kept = (pp or 1) > 1 and self.pp_fsdp_unsharded and not self.raf_under_pp(True)
        return "off (kept gathered under PP)" if kept else on

    def overlap_grad_reduce_label(self, zero: int | None = None) -> str:
        """``overlap_grad_reduce`` in the stack line as a plan at ZeRO ``zero`` runs it: "on" / "off", with why where
        the stack's optimizer wrapper at that stage makes it so (``zero_stream_rows``, the rows the step time and the
        memory read, for every job of the stack): "off" where it reduces only after the backward whatever the option
        (``ZeroStreams.reduces_in_backward``: DeepSpeed's ZeRO-0/1, whose ``overlap_comm`` its engine ignores or
        forces off; planner.model.step_time ``reduce_in_backward``), and where the option off puts its ZeRO-3
        collectives on the compute stream (``z3_streams_by_overlap``: DeepSpeed's stage 3; step_time
        ``z3_on_compute_stream``). From ds47b to left47 it read ``zero_state_rows`` (fp32 master weights only), so a
        ``weights: pure`` / ``amp`` job read plain "on"; before ds47b ``ZERO_STATES`` by precision."""
        on = "on" if self.overlap_grad_reduce else "off"
        rows = zero_stream_rows(self) if zero is not None else None
        if rows is None:
            return on
        if self.overlap_grad_reduce and not rows[zero].reduces_in_backward:
            return f"off (ZeRO-{zero}: reduced after the backward)"
        if not self.overlap_grad_reduce and rows[zero].z3_streams_by_overlap:
            return f"off (ZeRO-{zero}: gathers and reduce-scatters on the compute stream)"
        return on

    def tp_overlap_label(self, gpu: str | None = None) -> str:
        """``tp_overlap`` in the stack line as the plan's GPU ``gpu`` runs it (planner.model.physics
        ``tp_overlap_mode``, the rule the step time reads): "te" falls back to NCCL collectives on the compute stream,
        all exposed, where Transformer Engine's userbuffers do not run (``TE_OVERLAP_CAPABLE``: no CUDA multicast
        before compute capability 9.0). Until QA 98 an A100 plan read "tp_overlap=te" with its TP collectives priced
        exposed, as "none" prices them (Llama-3-8B TP 2 on 2 p4d.24xlarge: 0.94 s either way)."""
        from planner.model.physics import tp_overlap_mode  # (physics imports planner.model.comm; kept lazy as the rest)

        run = tp_overlap_mode(self.tp_overlap, gpu) if gpu else self.tp_overlap
        if run == self.tp_overlap:
            return run
        return (f"{run} ({self.tp_overlap} falls back to NCCL on {gpu}: Transformer Engine's userbuffers need CUDA "
                "multicast, compute capability 9.0, or an MI300-class part)")

    def grad_accum_fusion_label(self, zero: int | None = None) -> str:
        """``gradient_accumulation_fusion`` in the stack line: "on" / "off", and why where the plan's launch forces
        it off (``fuses_grad_accum``)."""
        if bool(self.fuses_grad_accum(zero)):
            return "on"
        return "off (ZeRO-3: torch FSDP2)" if self.gradient_accumulation_fusion else "off"

    def mixed_precision_label(self, precision: str | None) -> str:
        """``mixed_precision`` as the job runs it, for the stack line. The value "bf16" is the mode "the module cast to
        16 bits" (DeepSpeed's engine: engine.py ``_configure_distributed_model`` casts the module with ``.half()``
        under ``fp16.enabled``, ``.bfloat16()`` under ``bf16.enabled``; transformers' ``torch_dtype``): its dtype is
        the job's 16-bit precision, so an fp16 job reads ``fp16`` (until ds46 the mode's name: an fp16 DeepSpeed
        job's stack line said ``mixed_precision=bf16``). "amp" (autocast over fp32 weights) names no dtype; on
        DeepSpeed (``zero_states``) it names the config section it is, ``torch_autocast`` with the autocast dtype and
        the ``bf16`` / ``fp16`` sections off (``fp32_module_zero_rows``; until ds52b the line said "amp" alone, which the
        HF Trainer's ``bf16=True`` does not give DeepSpeed)."""
        if self.mixed_precision == "bf16" and precision in CAST_PRECISIONS:
            return precision
        if self.mixed_precision == "amp" and self.zero_states and precision in CAST_PRECISIONS:
            return f"amp ({ds_torch_autocast_section(precision)}; bf16 / fp16 sections off)"
        return self.mixed_precision

    def fsdp_version_note(self, searched: bool) -> str:
        """What the stack line says after ``fsdp_version=N``: a version the job set nothing; one it left out "(unset:
        the HF Trainer's default, ...)"; one ``recommend`` searched (rec54) that it was searched and whether it is
        the Trainer's default (``defaults.TRAINER_FSDP_VERSION``) -- until hfcp54 a searched FSDP2 read as if set."""
        if searched:
            return (" (searched; the HF Trainer's default)" if self.fsdp_version == D.TRAINER_FSDP_VERSION
                    else f" (searched; the HF Trainer's default is {D.TRAINER_FSDP_VERSION})")
        if self.fsdp_version_unset:
            return " (unset: the HF Trainer's default, TrainingArguments' fsdp_config version)"
        return ""

    def describe(self, precision: str | None = None, transformer: bool = True, zero: int | None = None,
                 pp: int | None = None, moe: bool = True, shared_experts: bool = True,
                 recompute: str = "full", gpu: str | None = None, tp: int | None = None,
                 vocab_logits: bool = True, searched: tuple[str, ...] = ()) -> str:
        """The stack and the options that move the answer, as the output's "training stack:" line. A model
        without transformer layers (a ResNet under DDP) has no tensor-parallel or sharded-parameter
        collectives, so TP overlap, parameter-gather overlap and resharding are not listed for it, nor for a stack
        without the switch (``tp_overlaps`` empty, ``has_param_gather`` False: QA 97; ``compile`` where
        ``has_compile`` is False: QA 98). ``zero`` /
        ``pp``: the plan's, which say whether it reshards at all (``reshard_label``: a torchtitan ZeRO-2 plan read
        "reshard_after_forward=on" where it launches fsdp_reshard_after_forward never). ``moe`` False (a dense
        model) leaves out the options that act on expert layers only (planner.vocab ``MOE_ONLY_OPTIONS``):
        Llama-3-8B with ``moe_dispatcher: deepep`` read "moe_dispatcher=deepep, moe_a2a_overlap=off" in its
        stack line while the load note said the option changes nothing. ``shared_experts`` False (a dense model, or
        an MoE model without shared experts: ``spec.schema.has_shared_experts``) leaves out
        ``moe_shared_expert_overlap``, which overlaps nothing there (the load note says so): Mixtral-8x7B with it
        read "moe_shared_expert_overlap=on" until small31b. ``recompute``: the plan's, which says the remat policy
        MaxText runs (``remat_label``: ``none`` without recompute). ``gpu``: the plan's, which says whether the TP
        overlap runs there (``tp_overlap_label``). ``tp``: the plan's TP degree; at TP 1 there is no TP collective for
        the overlap to hide, so ``tp_overlap`` is not listed (until QA 100 a TP 1 megatron-core plan read
        "tp_overlap=te"; None: not known, listed). ``channels_last`` is listed where the stack has the switch and the
        model is generic (its convolutions; ``OPTION_USES``), since the step prices it (step_time
        ``nchw_transpose_bytes``; until QA 100 the pytorch-ddp / dle-convnets line left it out). ``vocab_logits`` False
        (a classifier head, ``vocab_tiles``) leaves out ``num_vocab_tiling``, which tiles nothing there (QA 102).
        ``searched``: the options ``recommend`` chose for the plan (``fsdp_version``: the line says it was searched
        and whether the value is the HF Trainer's default, ``fsdp_version_note``)."""
        # compile only where the stack's code has the switch (``holds``: ``has_compile``): Megatron-LM/-Core,
        # Megatron-DeepSpeed, metaseq, the DDP stacks (dle-bert runs torch 1.11) and the XLA stacks (which compile the
        # whole step, no switch) read "compile=off" / "=on" until QA 98; the README parameter table keeps their value
        opts = [f"compile={'on' if self.compile else 'off'}"] if holds(self, "compile") else []
        if transformer and self.tp_overlaps and (tp is None or tp > 1):  # (none on the DDP stacks: rule ddp-tp)
            opts.append(f"tp_overlap={self.tp_overlap_label(gpu)}")
        opts.append(f"overlap_grad_reduce={self.overlap_grad_reduce_label(zero)}")
        if not transformer and holds(self, "channels_last"):  # a convnet's memory format: NCHW pays cuDNN's transposes
            opts.append(f"channels_last={'on' if self.channels_last else 'off'}")
        if self.has_grad_accum_fusion:  # off: one unfused accumulation pass a micro-batch (grad_accum_pass)
            opts.append(f"gradient_accumulation_fusion={self.grad_accum_fusion_label(zero)}")
        # only a stack with the switch (``has_param_gather``): the DDP stacks (pytorch-ddp, dle-convnets, dle-bert)
        # gather no parameters and read "overlap_param_gather=on" until QA 97; DeepSpeed, Megatron-LM 2021-22,
        # Megatron-DeepSpeed and NeuronX gather as their code fixes it, no switch to say
        if transformer and self.has_param_gather:
            opts.append(f"overlap_param_gather={'on' if self.overlap_param_gather else 'off'}")
            # the aligned dispatch acts on the interleaved schedule only (pp > 1); its on default (Megatron-LM's CLI,
            # NeMo 2 / Megatron-Bridge) unsaid, as fp8_param_gather's
            if (holds(self, "align_param_gather") and not self.align_param_gather and self.overlap_param_gather
                    and (pp is None or pp > 1)):
                opts.append("align_param_gather=off")
            if (holds(self, "overlap_param_gather_with_optimizer_step") and self.overlap_param_gather_with_optimizer_step
                    and self.overlap_param_gather and (pp is None or pp > 1)):
                opts.append("overlap_param_gather_with_optimizer_step=on")
            raf = self.reshard_label(zero, pp)
            if raf is not None:
                opts.append(f"reshard_after_forward={raf}")
        # (training.precision fp4 reaches the model as fp8 with the nvfp4 recipe: planner.spec.load._fp4_alias)
        if precision == "fp8":
            opts.append(f"fp8_recipe={self.fp8_recipe}")
            # the flag left off where the storage hangs on it (the on default, which NeMo / Megatron-Bridge run, unsaid)
            off = not self.fp8_param_gather and holds(self, "fp8_param_gather")
            if off and bool(layout_uses(self, "fp8_param_gather", 1 if zero is None else zero)):
                opts.append("fp8_param_gather=off")
            # torchtitan's float8 all-gather where it runs (FSDP2 sharding); its off default unsaid
            if self.fsdp_float8_all_gather and bool(layout_uses(self, "fsdp_float8_all_gather",
                                                                 2 if zero is None else zero)):
                opts.append("fsdp_float8_all_gather=on")
        if self.activation_offload:
            opts.append("activation_offload=on" + (f" layers={self.activation_offload_layers}"
                                                    if self.activation_offload_layers is not None else ""))
        label = remat_label(self, recompute) if self.has_remat_policy and transformer else None
        if label is not None:  # the policy the plan runs: none without recompute (QA 70)
            opts.append(f"remat_policy={label}")
        if self.has_remat_policy and transformer:
            if self.num_vocab_tiling > 1 and vocab_logits:
                opts.append(f"num_vocab_tiling={self.num_vocab_tiling}")
            if self.ag_backward_pipelining:
                opts.append("ag_backward_pipelining=on")
        if self.optimizer_offload:
            opts.append("optimizer_offload=on")
        if self.param_offload:
            opts.append("param_offload=on")
        if self.offload_device != "cpu" and (self.optimizer_offload or self.param_offload):  # (a plan may turn both off)
            opts.append(f"offload_device={self.offload_device}")
            if self.nvme_gbps is not None:
                opts.append(f"nvme_gbps={self.nvme_gbps:g}")
            elif self.nvme_stripe != "one":
                opts.append(f"nvme_stripe={self.nvme_stripe}")
        opts += [f"{k}=on" for k in DS_CHECKPOINT_OPTIONS if getattr(self, k)]
        if self.reduce_bucket_size is not None:
            opts.append(f"reduce_bucket_size={self.reduce_bucket_size:.0f}")
        if self.precision_aware_optimizer and not self.optimizer_offload:  # the state dtypes the plan prices
            opts.append(f"precision_aware_optimizer=on (exp_avg {self.exp_avg_dtype}, exp_avg_sq {self.exp_avg_sq_dtype}"
                        f", main_params {self.main_params_dtype})")
        if self.mixed_precision is not None:
            opts.append(f"mixed_precision={self.mixed_precision_label(precision)}")
        if self.communication_data_type is not None:  # the gradient reduce's dtype the job set (qa56: said nowhere)
            opts.append(f"communication_data_type={self.communication_data_type}")
        if self.recompute_early_stop and recompute != "none":  # what the plan's recompute does (as use_reentrant)
            opts.append("recompute_early_stop=on")
        if self.use_reentrant is not None and recompute != "none":  # which torch checkpoint the recompute runs
            opts.append(f"use_reentrant={'on' if self.use_reentrant else 'off'}")
        if self.selective == "layer":  # torchtitan layer SAC: which layers its selective recompute checkpoints
            opts.append(f"selective=layer ac_freq={self.layer_sac_every}")
        if self.fused_qkv != getattr(STACKS.get(self.name), "fused_qkv", self.fused_qkv):  # said where set otherwise
            opts.append(f"fused_qkv={'on' if self.fused_qkv else 'off'}")
        if self.tp_gather_per_linear:
            opts.append("tp_gather_per_linear=on")
        if not self.loss_parallel:
            opts.append("loss_parallel=off")
        if self.loss_eager_16bit:
            opts.append("loss_eager_16bit=on")
        if self.tp_embedding_replicated:
            opts.append("tp_embedding_replicated=on")
        if self.megatron_fsdp:
            opts.append("megatron_fsdp=on")
        if self.fsdp_defer_sync:
            opts.append("fsdp_defer_sync=on")
        defers = option_at(self, "defer_fsdp_grad_sync", None)  # (the HF Trainer's under either FSDP version)
        if defers != getattr(STACKS.get(self.name), "defer_fsdp_grad_sync", False):
            opts.append(f"defer_fsdp_grad_sync={'on' if defers else 'off'}")
        # on an MoE model a stack with a dispatcher choice names it even at its default: the dispatcher moves the
        # all-to-all (DeepEP / HybridEP deduplicate per node) and is not searched; until QA 51 the default went unsaid
        if (moe and len(self.moe_dispatchers) > 1) or self.moe_dispatcher != "alltoall" or self.moe_a2a_overlap:
            opts.append(f"moe_dispatcher={self.moe_dispatcher}")
            opts.append(f"moe_a2a_overlap={'on' if self.moe_a2a_overlap else 'off'}")
        if self.moe_fused_mlp:
            opts.append("moe_fused_mlp=on")
        if self.fused_cross_entropy:
            opts.append(f"fused_cross_entropy=on ({self.fused_ce_kernel})")
        if self.cross_entropy_fusion and transformer:  # Megatron-Core's loss kernel, as the plan prices it
            opts.append(f"cross_entropy_fusion={self.cross_entropy_fusion}")
        if self.attn_implementation is not None and transformer:  # transformers' attention, as the plan prices it
            opts.append(f"attn_implementation={self.attn_implementation}")
        if self.fsdp_version is not None and (zero is None or zero >= 2):  # accelerate's FSDP, where it shards
            opts.append(f"fsdp_version={self.fsdp_version}" + self.fsdp_version_note("fsdp_version" in searched))
        if self.loss == "masked_ce" and transformer:  # AutoModel's loss class and its switches, as the plan prices it
            opts.append(f"loss_fn={self.loss_fn}" + (f" (chunk_size {self.ce_chunk_size})"
                                                     if self.loss_fn == "masked_ce_chunked" else ""))
            if self.loss_fn in UPCAST_LOSS_FNS:
                opts.append(f"ce_fp32_upcast={'on' if self.ce_fp32_upcast else 'off'}")
        if self.moe_shared_expert_overlap and moe and shared_experts:  # only shared experts are overlapped
            opts.append("moe_shared_expert_overlap=on")
        if self.lp_bf16_first_layers and precision == "fp8":
            opts.append(f"lp_bf16_first_layers={self.lp_bf16_first_layers}")
        if self.lp_bf16_layers and precision == "fp8":
            opts.append(f"lp_bf16_layers={self.lp_bf16_layers}")
        if self.lp_bf16_mtp and precision == "fp8":
            opts.append("lp_bf16_mtp=on")
        if self.microbatch_group_size is not None:
            opts.append(f"microbatch_group_size={self.microbatch_group_size}")
        if self.pp_pass_microbatches is not None and pp > 1:
            opts.append(f"pp_pass_microbatches={self.pp_pass_microbatches}")
        if self.cuda_graph_impl != "none":
            opts.append(f"cuda_graph={self.cuda_graph_impl}" + (f":{'+'.join(self.cuda_graph_scope)}" if self.cuda_graph_scope else ""))
        if self.cuda_module_loading == "eager":  # the runtime's reserve it moves, beside it (ctx51)
            opts.append(f"cuda_module_loading=eager (every kernel module loaded at start, CUDA < 11.7 or torch < 1.13: "
                        f"the CUDA context {EAGER_CONTEXT_BYTES / 2**30:.2f} GiB on NVIDIA GPUs, none on ROCm)")
        if not moe:  # each entry starts with its option's name
            opts = [o for o in opts if o.split("=")[0] not in MOE_ONLY_OPTIONS]
        fork = f" -- {self.fork}" if self.fork else ""
        return f"training stack: {self.name} ({', '.join(opts)}){fork}"


#: torchtitan layer SAC's n where the job leaves ``ac_freq`` out: torchtitan's own default (config/job_config.py
#: ``ActivationCheckpoint.selective_ac_option: str = "2"``), the planner's layer SAC before the option existed
LAYER_SAC_FREQ = 2

#: the NeMo AutoModel loss classes (planner.vocab ``LOSS_FN``) with ``MaskedCrossEntropy``'s ``fp32_upcast`` switch
#: (the other two classes take no such argument)
UPCAST_LOSS_FNS = ("masked_ce", "masked_ce_chunked")

#: what a stack can offload to host memory (``Stack.offloads``' words), each switched by the field ``<kind>_offload``,
#: in the order a plan's ``offload`` column joins them (planner.search.evaluate ``offload_label``)
OFFLOAD_KINDS = ("optimizer", "activation", "param")
#: DeepSpeed's activation-checkpoint options (``Stack.partition_activations``, ``Stack.cpu_checkpointing``), in the
#: order the stack line lists them
DS_CHECKPOINT_OPTIONS = ("partition_activations", "cpu_checkpointing")
#: torch's name of each 16-bit precision, as DeepSpeed's ``torch_autocast.dtype`` takes it (deepspeed/runtime/
#: config.py ``get_torch_autocast_dtype``: ``DtypeEnum(value)``, which takes "bfloat16" / "float16" among its names)
TORCH_DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16"}


def ds_torch_autocast_section(precision: str) -> str:
    """The DeepSpeed config section an fp32 module under ``torch.autocast`` at ``precision`` runs with (DeepSpeed >=
    0.17, ``fp32_module_zero_rows``), as the stack line and the launch note write it."""
    return f'"torch_autocast": {{"enabled": true, "dtype": "{TORCH_DTYPE_NAMES[precision]}"}}'


#: the 16-bit precisions ``mixed_precision: bf16`` casts the module to (``Stack.mixed_precision_label``)
CAST_PRECISIONS = ("bf16", "fp16")

OPTIONS = ("compile", "tp_overlap", "overlap_grad_reduce", "overlap_param_gather", "reshard_after_forward",
           "fp8_recipe", "selective", "activation_offload", "activation_offload_layers", "optimizer_offload",
           "param_offload", "offload_device", "nvme_stripe", "nvme_gbps",
           "partition_activations", "cpu_checkpointing", "reduce_bucket_size",
           "mixed_precision",
           "moe_dispatcher", "moe_a2a_overlap", "recompute_early_stop", "use_reentrant", "megatron_fsdp",
           "moe_fused_mlp",
           "cuda_graph_impl", "cuda_graph_scope", "lp_bf16_layers", "lp_bf16_first_layers", "first_last_layers_bf16",
           "lp_bf16_mtp", "channels_last", "fsdp_defer_sync", "defer_fsdp_grad_sync",
           "microbatch_group_size", "communication_data_type", "pp_partition_method", "pp_pass_microbatches", "ac_freq",
           "fused_qkv", "tp_gather_per_linear", "loss_parallel", "loss_eager_16bit", "align_param_gather", "overlap_param_gather_with_optimizer_step", "tp_embedding_replicated", "pp_layout", "moe_shared_expert_overlap", "pp_split", "pp_first_stage_less_layers",
           "pp_last_stage_less_layers", "fused_cross_entropy", "ce_fp32_upcast", "loss_fn", "ce_chunk_size",
           "cross_entropy_fusion", "attn_implementation", "experts_implementation", "cp_comm_type",
           "precision_aware_optimizer", "exp_avg_dtype",
           "exp_avg_sq_dtype", "main_params_dtype", "remat_policy", "remat_tensors",
           "num_vocab_tiling", "ag_backward_pipelining", "gradient_accumulation_fusion", "cuda_module_loading",
           "fsdp_version", "fp8_param_gather", "fsdp_float8_all_gather")
#: options a job spells as its code's flag where the registry holds the fact under the mechanism the time prices:
#: the Stack field and the map from the option's value to it. ``gradient_accumulation_fusion`` (Megatron's flag,
#: ``Stack.gradient_accumulation_fusion``) is ``not grad_accum_pass``, the unfused pass planner.model.step_time
#: ``grad_accum_pass`` prices, which Megatron-DeepSpeed pays with no switch at all
OPTION_FIELDS = {"gradient_accumulation_fusion": ("grad_accum_pass", operator.not_)}
assert set(OPTIONS) <= {f.name for f in fields(Stack)} | set(OPTION_FIELDS)


def _as_fields(opts: dict) -> dict:
    """A job's set options (None: unset) as the Stack fields they set (``OPTION_FIELDS``)."""
    out = {}
    for k, v in opts.items():
        if v is not None:
            field, to_field = OPTION_FIELDS.get(k, (k, None))
            out[field] = to_field(v) if to_field else v
    return out

#: the options that say which transformer layers stay 16-bit under the fp8/fp4 recipe (Megatron-Core
#: ``--first-last-layers-bf16``, ``--num-layers-at-start-in-bf16``, ``--num-layers-at-end-in-bf16``)
LP16_OPTIONS = ("first_last_layers_bf16", "lp_bf16_first_layers", "lp_bf16_layers")
#: Megatron-Core's counts where ``--first-last-layers-bf16`` is on and a count is not given (megatron/core/
#: transformer/transformer_config.py ``num_layers_at_start_in_bf16: int = 1``, ``num_layers_at_end_in_bf16: int = 1``;
#: megatron/training/arguments.py the same defaults)
LP16_DEFAULT_COUNTS = {"lp_bf16_first_layers": 1, "lp_bf16_layers": 1}


#: MaxText's named remat tensors (``checkpoint_name`` in MaxText/layers/decoders.py ``DecoderLayer``, attentions.py,
#: linears.py ``mlp_block``): the decoder layer's input, the q / k / v projections, the attention output ("context"),
#: the output projection, the MLP's first GEMM (``mlpwi``; ``mlpwi_0`` / ``mlpwi_1`` the gate and up halves of a gated
#: MLP) and its second (``mlpwo``). The per-tensor keys of base.yml / configs/types.py ``RematAndOffload`` (``qkv_proj``,
#: the fused projection, MLA's and the MoE blocks' own names are not taken: no maxtext row or planner model runs them)
MAXTEXT_REMAT_TENSORS = REMAT_TENSOR.names
#: where a tensor can be (configs/types.py ``RematLocation``): kept on the chip, offloaded to pinned host memory, or
#: rematerialised in the backward (planner.vocab ``REMAT_LOCATION``)
REMAT_LOCATIONS = REMAT_LOCATION.names
_DOTS = ("query_proj", "key_proj", "value_proj", "out_proj", "mlpwi", "mlpwi_0", "mlpwi_1", "mlpwo")
_QKV = ("query_proj", "key_proj", "value_proj")
#: MaxText's named policies (MaxText/layers/decoders.py ``Decoder.get_remat_policy``, AI-Hypercomputer/maxtext
#: @0013a4d8): the tensors each saves on the device or offloads (``jax.checkpoint_policies.save_only_these_names``,
#: ``save_and_offload_only_these_names(..., offload_dst="pinned_host")``); every other tensor of the layer is
#: rematerialised. ``minimal`` is ``checkpoint_dots_with_no_batch_dims`` (every weight GEMM's output; the attention
#: dots carry batch dims and the splash kernel is no dot), ``minimal_offloaded`` its offloading twin
#: ``offload_dot_with_no_batch_dims``, ``minimal_flash`` it plus ``context``; ``full`` saves none; ``custom`` reads the
#: per-tensor keys (``remat_tensors``), each ``remat`` unless set but ``decoder_layer_input``, ``device`` (base.yml,
#: configs/types.py ``RematAndOffload``). The layer's input stays on the chip under every policy but custom's
#: ``decoder_layer_input: offload``: ``jax.checkpoint`` keeps the primal inputs it rematerialises from.
MAXTEXT_REMAT_POLICIES = {
    "full": {},
    "minimal": dict.fromkeys(_DOTS, "device"),
    "minimal_flash": dict.fromkeys(_DOTS + ("context",), "device"),
    "minimal_offloaded": dict.fromkeys(_DOTS, "offload"),
    "save_dot_with_context_except_mlp": dict.fromkeys(_QKV + ("context", "out_proj"), "device"),
    "save_dot_except_mlpwi": dict.fromkeys(_QKV + ("out_proj", "mlpwo"), "device"),
    "save_dot_except_mlp": dict.fromkeys(_QKV + ("out_proj",), "device"),
    "save_qkv_proj": dict.fromkeys(_QKV, "device"),
    "qkv_proj_offloaded": dict.fromkeys(_QKV, "offload"),
    "save_out_proj": {"out_proj": "device"},
    "custom": {},
}
assert tuple(MAXTEXT_REMAT_POLICIES) == REMAT_POLICY.names


def remat_locations(st) -> dict[str, str]:
    """Where each of MaxText's named tensors (``MAXTEXT_REMAT_TENSORS``) is under ``st``'s remat policy on a
    ``recompute: full`` row: "device", "offload" or "remat" (``MAXTEXT_REMAT_POLICIES``; custom: ``remat_tensors``
    over base.yml's defaults); the layer input "device" unless offloaded (``jax.checkpoint`` keeps its inputs)."""
    policy = getattr(st, "remat_policy", None) or "full"
    out = dict.fromkeys(MAXTEXT_REMAT_TENSORS, "remat")
    out.update(MAXTEXT_REMAT_POLICIES[policy])
    if policy == "custom":
        out.update(dict(getattr(st, "remat_tensors", ()) or ()))
    if out["decoder_layer_input"] == "remat":
        out["decoder_layer_input"] = "device"
    return out


def remat_saved(remat) -> dict[str, float]:
    """1.0 for each of MaxText's named tensors (``MAXTEXT_REMAT_TENSORS``) that the policy's (tensor, location) pairs
    ``remat`` (planner.model.activations ``stack_remat``) keep, on the chip or offloaded to the host, so that the
    full-recompute re-run does not repeat the GEMM that makes it; 0.0 for those it rematerialises. Read by the FLOPs
    (planner.model.flops ``remat_skip_flops_per_token``) and the time (planner.model.layer_ops ``remat_policy_skip``)
    alike."""
    loc = dict(remat)
    return {k: 1.0 if loc.get(k) in ("device", "offload") else 0.0 for k in MAXTEXT_REMAT_TENSORS}


def remat_policy_run(st, recompute: str = "full") -> str | None:
    """MaxText's ``remat_policy`` a plan at ``recompute`` runs: ``none`` without recompute (base.yml's ``remat_policy:
    none``: every tensor saved, what the plan's memory and FLOPs price), the stack's policy under full recompute
    (``full`` unless set), None under the planner's selective recompute, which no MaxText policy names. One reading
    for the stack line (``remat_label``) and the launch keys (planner.present.emit ``maxtext_remat_keys``): until QA 70
    the stack line read "remat_policy=full" beside a plan priced without recompute (Llama-2-13B on tpu-v6e-64, TP4
    DP16, 13.56 s, 7.4 GiB of activations) while the launch keys said ``remat_policy=none``."""
    if recompute == "none":
        return "none"
    return (st.remat_policy or "full") if recompute == "full" else None


def remat_label(st, recompute: str = "full") -> str | None:
    """The stack line's words for the remat policy a plan at ``recompute`` runs (``remat_policy_run``): the name, and
    under custom the tensors not rematerialised; None where no MaxText policy names it (selective recompute)."""
    policy = remat_policy_run(st, recompute)
    if policy != "custom":
        return policy
    loc = remat_locations(st)
    parts = [f"{where} " + ",".join(k for k in MAXTEXT_REMAT_TENSORS if loc[k] == where) for where in ("offload", "device")
             if any(loc[k] == where for k in MAXTEXT_REMAT_TENSORS)]
    return "custom (" + "; ".join(parts) + ")"


def _check_remat_policy(st, opts: dict):
    """Refuse ``remat_tensors`` outside ``remat_policy: custom`` (MaxText reads the per-tensor keys only there,
    decoders.py ``get_remat_policy``) and a tensor or location MaxText does not name; a ``num_vocab_tiling`` under 1
    (MaxText splits the tokens into that many tiles)."""
    if st.num_vocab_tiling < 1:
        raise InputError("training.framework.num_vocab_tiling", f"{st.num_vocab_tiling}: the tiles must be at least 1")
    given = opts.get("remat_tensors")
    if not given:
        return st
    field = "training.framework.remat_tensors"
    if st.remat_policy != "custom":
        raise InputError(field, "MaxText reads the per-tensor remat keys under remat_policy: custom only")
    for k, v in st.remat_tensors:
        if k not in MAXTEXT_REMAT_TENSORS:
            raise InputError(field, f"{k!r}; known: {', '.join(MAXTEXT_REMAT_TENSORS)}")
        if v not in REMAT_LOCATIONS:
            raise InputError(field, f"{k}: {v!r}; known: {', '.join(REMAT_LOCATIONS)}")
    return st


def _first_last_counts(st, opts: dict):
    """``st`` with the 16-bit first / last layer counts Megatron-Core runs for the job's options (``LP16_OPTIONS``):
    with the switch a count left out keeps its default, 1 (``LP16_DEFAULT_COUNTS``); a count alone turns the switch
    on with the other count 0 (what ``lp_bf16_layers: 14`` always meant: Nemotron 3 Super's last 14); the switch set off
    with a count is refused (Megatron-Core reads no count without it: fp8_utils.py ``is_first_last_bf16_layer``)."""
    flag = opts.get("first_last_layers_bf16")
    counts = {k: opts[k] for k in LP16_DEFAULT_COUNTS if opts.get(k) is not None}
    if flag is False and any(counts.values()):
        k = next(k for k, v in counts.items() if v)
        raise InputError(f"training.framework.{k}", "a 16-bit layer count with first_last_layers_bf16 false (Megatron-"
                                                    "Core reads the counts only with --first-last-layers-bf16)")
    if flag is None and not any(counts.values()):
        return st
    # with the switch, a count left out is Megatron-Core's default; without it, a count alone means no other
    counts = {k: counts.get(k, d if flag else 0) for k, d in LP16_DEFAULT_COUNTS.items()}
    return replace(st, **counts, first_last_layers_bf16=bool(flag if flag is not None else any(counts.values())))


#: the vocabulary of each option with named values (a value outside it is a typo, whatever the stack)
OPTION_VALUES = {"tp_overlap": TP_OVERLAP.names, "selective": SELECTIVE_AC.names, "mixed_precision": MIXED_PRECISION.names,
                 "moe_dispatcher": MOE_DISPATCHER.names, "fp8_recipe": FP8_RECIPE.names,
                 "cp_comm_type": CP_COMM_TYPE.names, "exp_avg_dtype": ADAM_STATE_DTYPE.names,
                 "exp_avg_sq_dtype": ADAM_STATE_DTYPE.names, "main_params_dtype": MAIN_PARAMS_DTYPE.names,
                 "loss_fn": LOSS_FN.names, "cross_entropy_fusion": CE_FUSION.names,
                 "offload_device": OFFLOAD_DEVICE.names, "nvme_stripe": NVME_STRIPE.names,
                 "cuda_graph_impl": CUDA_GRAPH_IMPL.names, "cuda_module_loading": CUDA_MODULE_LOADING.names}


def _check_automodel_loss(st: "Stack", opts: dict) -> None:
    """Refuse what NeMo AutoModel's loss classes refuse (``Stack.loss_fn``): ``MaskedCrossEntropy.__init__`` raises
    "chunk_size requires fp32_upcast=True" (masked_ce.py), its ``chunk_size`` has no default (None: the whole-tensor
    path), a chunk size means nothing to another class, and ``FusedLinearCrossEntropy`` / ``TEParallelCrossEntropy``
    take no ``fp32_upcast`` argument."""
    chunked = st.loss_fn == "masked_ce_chunked"
    if chunked and st.ce_chunk_size is None:
        raise InputError("training.framework.ce_chunk_size", "loss_fn masked_ce_chunked needs the chunk's rows "
                         "(MaskedCrossEntropy chunk_size has no default)")
    if not chunked and st.ce_chunk_size is not None:
        raise InputError("training.framework.ce_chunk_size", f"only with loss_fn masked_ce_chunked (MaskedCrossEntropy "
                         f"chunk_size), not {st.loss_fn}")
    if st.ce_chunk_size is not None and st.ce_chunk_size < 1:
        raise InputError("training.framework.ce_chunk_size",
                         f"{st.ce_chunk_size}: chunk_size must be greater than zero")
    if chunked and not st.ce_fp32_upcast:
        raise InputError("training.framework.ce_fp32_upcast", "MaskedCrossEntropy refuses it: 'chunk_size requires "
                         "fp32_upcast=True; the chunked path upcasts each chunk to fp32'")
    if st.loss_fn not in UPCAST_LOSS_FNS and opts.get("ce_fp32_upcast") is not None:
        raise InputError("training.framework.ce_fp32_upcast", f"loss_fn {st.loss_fn} has no fp32_upcast switch "
                         "(MaskedCrossEntropy's only)")


def _mcore(what: str):
    return (lambda st: st.has_cuda_graphs), f"{what} (a Megatron-Core option)"


def _splits(st) -> bool:
    from planner.model.pipeline import PARTITION_METHODS, SPLIT_RUNTIMES  # (pipeline imports this module)
    return SPLIT_RUNTIMES.get(st.name) in set(PARTITION_METHODS.values())


#: Which stacks have each option (``OPTIONS``): the one table. Per option, a test on the registry entry (the fields
#: that say what its code has: ``Stack.has_compile`` ... ``selectives``, ``offloads``, ``has_cuda_graphs``, ...), what
#: the option is (the refusal's words), and, for options whose values differ by stack, the values the entry offers.
#: An option not listed is every stack's (overlap_grad_reduce). ``check_option`` refuses an explicit option a stack
#: lacks; ``holds`` keeps the search from trying one (planner.search.space) and a plan's stack record from listing one
#: (``Stack.options``).
OPTION_HOLDERS: dict[str, tuple] = {
    "compile": (lambda st: st.has_compile, "torch.compile switch", None),
    "overlap_param_gather": (lambda st: st.has_param_gather,
                             "switch to overlap a parameter all-gather (DDP has none; DeepSpeed ZeRO and legacy Megatron "
                             "gather after the step)", None),
    "fp8_recipe": (lambda st: bool(fp8_recipes(st)), "fp8 recipe modelled (no fp8 training)", lambda st: fp8_recipes(st)),
    "tp_overlap": (lambda st: bool(st.tp_overlaps), "tensor parallelism to overlap", lambda st: st.tp_overlaps),
    # the switch is ZeRO-3's (LAYOUT_USES): a stack without a ZeRO-3 has none, whatever its upstream has (Intel's
    # Megatron-Core fork, megatron-core-gaudi: has_zero3 off, no --use-torch-fsdp2; until qa56 it took the option and
    # planned ZeRO-1 with it silently dropped)
    "reshard_after_forward": (lambda st: st.has_reshard and st.has_zero3, "reshard-after-forward switch (FSDP's, "
                              "ZeRO-3)", None),
    "selective": (lambda st: bool(st.selectives), "selective recompute", lambda st: st.selectives),
    "ac_freq": (lambda st: "layer" in st.selectives, "layer SAC (selective: layer) to set every n-th layer of", None),
    "activation_offload": (lambda st: "activation" in st.offloads, "activation offload", None),
    "activation_offload_layers": (lambda st: "activation" in st.offloads,
                                  "activation offload (Megatron-Core's --cpu-offloading-num-layers)", None),
    "optimizer_offload": (lambda st: "optimizer" in st.offloads, "optimizer offload", None),
    "param_offload": (lambda st: "param" in st.offloads, "parameter offload (DeepSpeed ZeRO-3 offload_param)", None),
    "offload_device": (lambda st: len(st.offload_devices) > 1, "offload device choice (DeepSpeed's offload_optimizer / "
                       "offload_param device: nvme)", lambda st: st.offload_devices),
    **{k: (lambda st: "nvme" in st.offload_devices, f"NVMe offload to state the {w} of (DeepSpeed ZeRO-Infinity's "
                                                       "nvme_path)", None)
       for k, w in (("nvme_stripe", "drives"), ("nvme_gbps", "rate"))},
    **{k: (lambda st: st.has_ds_checkpointing, f"DeepSpeed activation checkpointing ({w})", None)
       for k, w in (("partition_activations", "Megatron-DeepSpeed's --partition-activations"),
                    ("cpu_checkpointing", "Megatron-DeepSpeed's --checkpoint-in-cpu"))},
    "reduce_bucket_size": (lambda st: st.zero_states is not None, "DeepSpeed ZeRO reduce bucket "
                           "(zero_optimization.reduce_bucket_size)", None),
    "remat_policy": (lambda st: st.has_remat_policy, "MaxText remat policy", None),
    "remat_tensors": (lambda st: st.has_remat_policy, "MaxText remat policy (remat_policy: custom's tensors)", None),
    "num_vocab_tiling": (lambda st: st.has_remat_policy, "MaxText vocabulary tiling (num_vocab_tiling)", None),
    "ag_backward_pipelining": (lambda st: st.scan_gathers,
                               "scanned layers' all-gather pipelining (XLA's --xla_tpu_enable_ag_backward_pipelining)",
                               None),
    "mixed_precision": (lambda st: st.mixed_precision is not None,
                        "Hugging Face model-code precision switch (mixed_precision: amp | bf16)", None),
    "moe_dispatcher": (lambda st: bool(st.moe_dispatchers), "MoE token dispatcher", lambda st: st.moe_dispatchers),
    # The field meant for it (dead46: the gate read has_cuda_graphs, the same three stacks today but not by design).
    "moe_a2a_overlap": (lambda st: st.has_moe_a2a_overlap, "MoE all-to-all overlap (a Megatron-Core option)", None),
    "recompute_early_stop": (lambda st: st.torch_checkpoint and not st.use_reentrant,
                             "recompute early stop (its checkpoint is reentrant: only PyTorch's non-reentrant one "
                             "stops early)", None),
    "use_reentrant": (lambda st: st.use_reentrant is not None,
                      "transformers gradient_checkpointing_kwargs use_reentrant (the stacks that checkpoint through "
                      "gradient_checkpointing_enable)", None),
    "megatron_fsdp": (lambda st: st.has_megatron_fsdp, "Megatron-FSDP", None),
    **{k: (*_mcore(w), None) for k, w in (("moe_fused_mlp", "fused grouped MLP"), ("cuda_graph_impl", "CUDA graphs"),
                                          ("cuda_graph_scope", "CUDA-graph scope"),
                                          ("lp_bf16_layers", "16-bit first/last layers"),
                                          ("lp_bf16_first_layers", "16-bit first/last layers"),
                                          ("first_last_layers_bf16", "16-bit first/last layers"),
                                          ("lp_bf16_mtp", "16-bit MTP module"),
                                          ("microbatch_group_size", "interleaved micro-batch group size"),
                                          ("pp_layout", "explicit pipeline layout (--pipeline-model-parallel-layout)"),
                                          ("moe_shared_expert_overlap", "shared-expert overlap"),
                                          ("precision_aware_optimizer", "precision-aware optimizer"),
                                          ("exp_avg_dtype", "precision-aware optimizer's exp_avg dtype"),
                                          ("exp_avg_sq_dtype", "precision-aware optimizer's exp_avg_sq dtype"),
                                          ("main_params_dtype", "precision-aware optimizer's master-weight dtype"))},
    "pp_split": (lambda st: st.has_cuda_graphs or st.name == "torchtitan",
                 "pipeline split choice (Megatron-Core's or torchtitan's)",
                 lambda st: (("balanced", "torchtitan") if st.name == "torchtitan"
                             else ("balanced", "megatron") if st.has_cuda_graphs else ())),
    **{k: (lambda st: st.name == "torchtitan", f"torchtitan {w} (pipeline_parallel_{k[3:]})", None)
       for k, w in (("pp_first_stage_less_layers", "first-stage less layers"),
                    ("pp_last_stage_less_layers", "last-stage less layers"))},
    "channels_last": (lambda st: st.has_channels_last, "channels-last switch (a convnet stack's memory format)", None),
    "fsdp_defer_sync": (lambda st: st.has_fsdp_defer_sync, "deferred FSDP2 gradient sync (NeMo AutoModel's)", None),
    "defer_fsdp_grad_sync": (lambda st: st.has_fsdp_defer_sync or bool(st.fsdp_versions),
                             "FSDP gradient sync on the last micro-batch only (NeMo AutoModel's FSDP2Config option; "
                             "the HF Trainer's, off with accelerate's sync_each_batch)", None),
    "communication_data_type": (lambda st: st.grad_comm_dtype == "model",
                                "DeepSpeed communication_data_type (set training.grad_dtype for its gradient reduce)",
                                None),
    "pp_partition_method": (_splits, "DeepSpeed PipelineModule partition_method", None),
    "pp_pass_microbatches": (lambda st: st.has_pp_pass,
                             "per-accumulation-step pipeline runs (NeMo AutoModel's pp_pass_microbatches, "
                             "torchtitan's local_batch_size)", None),
    "fused_qkv": (lambda st: st.has_fused_qkv, "FusedQKVLinear switch (torchtitan's fused_qkv)", None),
    "tp_embedding_replicated": (lambda st: st.has_tp_embedding_replicated, "DTensor TP plan's embedding switch "
                                "(a plan that leaves nn.Embedding replicated)", None),
    # (Megatron-Core's DistributedDataParallelConfig flag: the stacks running its distributed optimizer, whose
    # interleaved schedule takes ``param_sync_func``; has_cuda_graphs marks the Megatron-Core entries, as ``_mcore``)
    "align_param_gather": (lambda st: st.has_cuda_graphs and st.has_param_gather,
                           "aligned per-chunk parameter all-gather switch (Megatron-Core --align-param-gather)", None),
    "overlap_param_gather_with_optimizer_step": (lambda st: st.has_cuda_graphs and st.has_param_gather,
                                                 "optimizer-step parameter all-gather switch (Megatron-Core "
                                                 "--overlap-param-gather-with-optimizer-step)", None),
    "loss_parallel": (lambda st: st.has_loss_parallel, "DTensor loss parallel switch (torchtitan's "
                      "--parallelism.disable_loss_parallel)", None),
    "loss_eager_16bit": (lambda st: st.has_loss_parallel, "eager 16-bit held-logits loss switch (a torchtitan-"
                         "style loop that runs F.cross_entropy outside the compiled model, as KempnerForge's)", None),
    "tp_gather_per_linear": (lambda st: st.has_tp_gather_per_linear,
                             "per-linear DTensor TP input gathers (torch ColwiseParallel(input_layouts=Shard(1)) on "
                             "each projection)", None),
    "gradient_accumulation_fusion": (lambda st: st.has_grad_accum_fusion, "gradient-accumulation fusion switch "
                                     "(Megatron's --no-gradient-accumulation-fusion)", None),
    # (the stacks whose FP8 weight storage hangs on Megatron-Core's flag: TE linears storing fp8_weight_bytes)
    "fp8_param_gather": (lambda st: st.te_linears and st.fp8_weight_bytes is not None,
                         "FP8 parameter gather switch (Megatron-Core's --fp8-param-gather)", None),
    # (the stacks running torchao's float8 linears under FSDP2: 16-bit stored float8 weights, no TE linears)
    "fsdp_float8_all_gather": (lambda st: st.fsdp2_dp and not st.te_linears and st.fp8_weight_bytes is not None,
                               "FSDP2 float8 all-gather switch (torchtitan's float8 enable_fsdp_float8_all_gather "
                               "with precompute_float8_dynamic_scale_for_fsdp)", None),
    "fused_cross_entropy": (lambda st: bool(st.fused_ce_kernel),
                            "chunked fused linear cross-entropy switch (HF Trainer's use_liger_kernel)", None),
    "cp_comm_type": (lambda st: bool(st.cp_comm_types), "context-parallel communication type (Megatron-Core "
                     "--cp-comm-type)", lambda st: st.cp_comm_types),
    "ce_fp32_upcast": (lambda st: st.loss == "masked_ce" and st.loss_fn in UPCAST_LOSS_FNS,
                       "fp32 upcast switch of the loss (NeMo AutoModel's MaskedCrossEntropy fp32_upcast)", None),
    "loss_fn": (lambda st: st.loss == "masked_ce", "loss class choice (NeMo AutoModel's loss_fn)",
                lambda st: LOSS_FN.names),
    "ce_chunk_size": (lambda st: st.loss == "masked_ce",
                      "chunked cross-entropy (NeMo AutoModel's MaskedCrossEntropy chunk_size)", None),
    "cross_entropy_fusion": (lambda st: bool(st.ce_fusions), "Megatron-Core cross-entropy fusion choice "
                             "(--cross-entropy-loss-fusion, --cross-entropy-fusion-impl)", lambda st: st.ce_fusions),
    "cuda_module_loading": (lambda st: "cuda" in st.platforms, "CUDA runtime (its kernel module loading)", None),
    "fsdp_version": (lambda st: bool(st.fsdp_versions), "accelerate FSDP version (the HF Trainer's fsdp_config "
                     "version)", lambda st: st.fsdp_versions),
    "attn_implementation": (lambda st: st.mixed_precision is not None,
                            "transformers attn_implementation (the stacks that run transformers' model code: "
                            "hf-trainer, deepspeed)", None),
    # (the stacks whose layers are transformers' model code: its explicit softmax is transformers')
    "experts_implementation": (lambda st: st.explicit_softmax == "transformers",
                               "transformers experts_implementation (the stacks that run transformers' model code: "
                               "hf-trainer, deepspeed)", None),
}
assert set(OPTION_HOLDERS) <= set(OPTIONS)


def fp8_recipes(st: "Stack") -> tuple[str, ...]:
    """The fp8 recipes ``st``'s code offers (``fp8_recipe`` values): its own row in planner.model.stack_rules
    ``FP8_RECIPES_BY_STACK`` (a fork), else the row of the code that runs it in ``FP8_RECIPES`` (sources there); a stack without a row there, the one
    recipe the registry prices it with (``Stack.fp8_recipe``: no recipe choice of its code is modelled)."""
    from planner.model.stack_rules import FP8_RECIPES, FP8_RECIPES_BY_STACK, rules_runtime  # (reads stacks at call time)

    if st.name in FP8_RECIPES_BY_STACK:  # a fork with fewer recipes than its runtime's upstream row
        return FP8_RECIPES_BY_STACK[st.name]
    return FP8_RECIPES.get(rules_runtime(st), (st.fp8_recipe,))


def _always(_model, _training) -> bool:
    return True


#: Options a job sets only where its model or precision uses them: the schema refuses ``channels_last`` on a model
#: with transformer layers (no convolution to lay out), and planner.spec.load notes that an ``fp8_recipe`` changes
#: nothing in a 16/32-bit run. A plan's stack record (``Stack.options`` with the job) leaves them out elsewhere.
OPTION_USES = {"channels_last": lambda m, t: not m.is_transformer, "fp8_recipe": lambda m, t: t.precision == "fp8",
               "fp8_param_gather": lambda m, t: t.precision == "fp8",
               "fsdp_float8_all_gather": lambda m, t: t.precision == "fp8",
               # the NVMe under DeepSpeed's nvme_path: a job that swaps to it or leaves the device to recommend with
               # a rate stated (its NVMe twins read it), not every cpu offload's record
               **{k: lambda m, t: _nvme_rate_used(m, t) for k in ("nvme_stripe", "nvme_gbps")},
               # MaxText's remat policy names a decoder layer's tensors (a transformer's)
               "remat_policy": lambda m, t: m.is_transformer, "remat_tensors": lambda m, t: m.is_transformer,
               # the tiles split a decoder's logits (a transformer's LM head: a classifier's has none, Stack.vocab_tiles)
               "num_vocab_tiling": lambda m, t: m.is_transformer and m.output_head != "classifier",
               # the scanned decoder layers' gathers (a transformer's)
               "ag_backward_pipelining": lambda m, t: m.is_transformer,
               # Megatron-Core overlaps shared experts only (moe_layer.py: ``set_shared_experts`` where the model has
               # them); on a model without, the flag is accepted and does nothing (planner.spec.load notes it)
               "moe_shared_expert_overlap": lambda m, t: has_shared_experts(m),
               # NeMo AutoModel's MoEFSDPSyncMixin switch: refused on a model without MoE layers (Stack.moe_only)
               "fsdp_defer_sync": lambda m, t: m.moe is not None,
               # a loss over a vocabulary: the transformer LMs' (a CNN's classifier head has no logits to chunk)
               "fused_cross_entropy": lambda m, t: m.is_transformer,
               "ce_fp32_upcast": lambda m, t: m.is_transformer,
               "loss_fn": lambda m, t: m.is_transformer,
               "ce_chunk_size": lambda m, t: m.is_transformer,
               "cross_entropy_fusion": lambda m, t: m.is_transformer,
               "attn_implementation": lambda m, t: m.is_transformer,
               # the exchange of an attention layer's K/V (a CNN has no sequence to split)
               "cp_comm_type": lambda m, t: m.is_transformer,
               # the options that act on MoE layers only (vocab MOE_ONLY_OPTIONS: the routed tokens' exchange, its
               # overlap, the experts' fused grouped MLP, transformers' experts kernel): a model with MoE layers. Until
               # QA 95 a dense plan's record, and the app's controls read from it, listed the dispatcher; until qa107
               # the fused grouped MLP (the app offered it on Llama-3-8B, where it moves nothing)
               **{k: lambda m, t: m.moe is not None for k in MOE_ONLY_OPTIONS}}
assert set(OPTION_USES) <= set(OPTIONS)


def job_uses(option: str, model, training) -> bool:
    """Whether a job's model and training use ``option`` (``OPTION_USES``; an option not listed: every job)."""
    return OPTION_USES.get(option, _always)(model, training)

#: Options a stack has that a plan uses only at some layouts, per plan: given the stack and the plan's ZeRO stage (a
#: number or an array of them), where the option is the plan's. A plan's stack record (``Stack.options`` with
#: ``zero``) and the search table's columns (planner.search.recommend ``_frame``: ``recommend --csv``, the JSON's
#: Pareto rows) leave it out elsewhere. ``reshard_after_forward`` is ZeRO-3's: below it no parameter is sharded
#: to gather again (``Stack.reshard_label``; an FSDP2 stack's ZeRO-2 is ``reshard_after_forward=False`` whatever the
#: option), and Megatron-FSDP has no such switch (stack_rules "mfsdp-reshard": Megatron-Core
#: megatron/core/distributed/fsdp/src/megatron_fsdp/megatron_fsdp.py releases every unit's parameters after forward;
#: DistributedDataParallelConfig has no reshard option, ``--torch-fsdp2-no-reshard-after-forward`` is the torch
#: FSDP2 path's). Until qa65 a Megatron-Core plan at Megatron-FSDP ZeRO-2 read ``reshard_after_forward=True`` in
#: ``recommend --csv`` and its JSON ``stack``.
LAYOUT_USES = {"reshard_after_forward": lambda st, zero: (np.asarray(zero) >= 3) & (not st.megatron_fsdp),
               # DeepSpeed's offload_param is a ZeRO-3 option (planner.model.offload ``valid_masks``)
               "param_offload": lambda st, zero: np.asarray(zero) >= 3,
               # Megatron-LM validate_args: --fp8-param-gather "only with distributed optimizer, torch fsdp2, megatron
               # fsdp" (stack_kernels ``fp8_param_gather_on``)
               "fp8_param_gather": lambda st, zero: np.asarray(zero) >= 1,
               # torchtitan float8.py: ``parallel_dims.dp_shard_enabled and enable_fsdp_float8_all_gather`` -- FSDP2
               # shards at its ZeRO-2 / 3 (``fsdp_reshard_after_forward``), replicated (ZeRO-0) it is dropped
               "fsdp_float8_all_gather": lambda st, zero: np.asarray(zero) >= 2,
               # accelerate's FSDP version: the HF Trainer shards with FSDP at ZeRO-2/3 (shard_grad_op, full_shard),
               # below them it runs DDP (``Stack.describe`` names the version there only; rec54 searches it there)
               "fsdp_version": lambda st, zero: np.asarray(zero) >= 2}
assert set(LAYOUT_USES) <= set(OPTIONS)


#: Options a plan's launch sets at some layouts whatever the job says: per option, where (given the stack and the
#: plan's ZeRO stage, a number or an array) and the value it runs there. Megatron-Core's ZeRO-3 without Megatron-FSDP
#: is ``--use-torch-fsdp2``, which Megatron-LM refuses with gradient-accumulation fusion (megatron/training/
#: arguments.py validate_args: "--use-torch-fsdp2 is not supported with gradient accumulation fusion"; Megatron-LM
#: docs torch_fsdp2: "--use-torch-fsdp2 --no-gradient-accumulation-fusion --ckpt-format torch_dist"), so the launch
#: runs it off (planner.present.emit ``MEGATRON_FSDP2_FLAGS``); an explicit ``true`` there is refused (stack_rules
#: "fsdp2-gaf"). The time is the same either way: FSDP2 accumulates into each rank's 1/dp gradient shard
#: (planner.model.step_time ``grad_accum_pass``: ZeRO-3 0). The stack line (``Stack.describe``), the JSON record
#: (``Stack.options``) and the launch read the one value (``option_at``).
LAYOUT_FORCES = {"gradient_accumulation_fusion": (
    lambda st, zero: (np.asarray(zero) >= 3) & st.has_grad_accum_fusion & st.has_zero3 & (not st.megatron_fsdp),
    False)}
assert set(LAYOUT_FORCES) <= set(OPTIONS)


def forced(stack: "Stack", option: str, zero) -> bool:
    """Whether a plan at ZeRO ``zero`` (one number; None: no plan) on ``stack`` runs ``option`` at a value its launch
    sets (``LAYOUT_FORCES``)."""
    rule = LAYOUT_FORCES.get(option)
    return zero is not None and rule is not None and bool(rule[0](stack, zero))


#: options whose value a stack holds in other fields once resolved: the HF Trainer's ``defer_fsdp_grad_sync`` is
#: ``fsdp1_no_sync`` under FSDP1 (``_with_fsdp_version``), so the field alone read False on a deferring FSDP1 plan
OPTION_READS = {"defer_fsdp_grad_sync": lambda st: bool(st.defer_fsdp_grad_sync or st.fsdp1_no_sync)}


def option_at(stack: "Stack", option: str, zero):
    """``option``'s value as a plan at ZeRO ``zero`` (a number or an array; None: the option as set) on ``stack``
    runs it: the forced value where ``LAYOUT_FORCES`` says so, else the stack's (``OPTION_READS``)."""
    value = OPTION_READS[option](stack) if option in OPTION_READS else getattr(stack, option)
    rule = LAYOUT_FORCES.get(option)
    if zero is None or rule is None:
        return value
    where = rule[0](stack, zero)
    return np.where(where, rule[1], value) if np.ndim(where) else (rule[1] if where else value)


def layout_uses(stack: "Stack", option: str, zero) -> np.ndarray:
    """Where a plan at ZeRO ``zero`` (a number or an array) on ``stack`` uses ``option`` (``LAYOUT_USES``; an option
    not listed: wherever the stack has it, ``holds``)."""
    on = holds(stack, option)
    rule = LAYOUT_USES.get(option)
    return np.asarray(on & rule(stack, zero)) if on and rule is not None else np.full(np.shape(zero), on)


#: What a value a job sets asks of the ZeRO stage, for the options a plan uses only from some stage on
#: (``LAYOUT_USES``): per option, the least stage at which ``value`` on ``stack`` runs as set (None: any stage), and
#: whether the real stack refuses a job that fixes a lower one ("refuse") or takes the value and does nothing with it
#: ("note"). ``reshard_after_forward``: both values are an FSDP unit's (torchtitan applies
#: ``fsdp_reshard_after_forward`` only to the modules ``fully_shard`` wraps, dp_shard > 1; accelerate passes its
#: fsdp_config only to FSDP), ``false`` is also an FSDP2 stack's ZeRO-2 (``fsdp2_dp``: ``Stack.reshard_label``).
#: ``fsdp_version``: accelerate's FSDP plugin, unused where the Trainer runs DDP (ZeRO-0/1). ``param_offload``:
#: DeepSpeed's offload_param, "Valid only with stage 3" (planner.search.space ``_check_fixed_offloads`` refuses a lower
#: fixed stage in its words). ``fp8_param_gather: true``: Megatron-LM megatron/training/arguments.py validate_args
#: asserts "--fp8-param-gather only supported with distributed optimizer, torch fsdp2, megatron fsdp" (ZeRO >= 1).
#: Until qa56 a job that set one and left ``parallel.zero`` open was planned at whatever stage ranked first (torchtitan
#: ``reshard_after_forward: false`` on 8 H100: ZeRO-0, the option dropped without a word).
LAYOUT_ASKS = {"reshard_after_forward": (lambda st, v: 2 if v is False and st.fsdp2_dp else 3, "note"),
               "fsdp_version": (lambda st, v: 2, "note"),
               "param_offload": (lambda st, v: 3 if v else None, "refuse"),
               "fp8_param_gather": (lambda st, v: 1 if v else None, "refuse"),
               # taken and dropped without FSDP (torchtitan's ``dp_shard_enabled and ...``, no assertion)
               "fsdp_float8_all_gather": (lambda st, v: 2 if v else None, "note")}
assert set(LAYOUT_ASKS) == set(LAYOUT_USES)


#: Options that act only where the plan has a pipeline, a context-parallel split or recompute: per option, what it
#: needs and the test on a plan's layout (its ``config``: pp, cp, recompute). At PP1 there is no stage to split or
#: schedule (Megatron-Core's ``--pipeline-model-parallel-layout`` / ``--decoder-first-pipeline-num-layers``,
#: torchtitan's ``pipeline_parallel_microbatch_size``, DeepSpeed's ``partition_method``, NeMo's microbatch groups:
#: planner.model.pipeline), at CP1 no K/V to exchange (``--cp-comm-type``), and without recompute no checkpointed
#: region for torch.utils.checkpoint's ``use_reentrant`` / early stop to act on, at TP1 no TP collective to overlap. The search does not raise PP, CP or
#: recompute for them (each is a layout choice with its own cost); the output says where the plan leaves one unused
#: (planner.search.evaluate ``option_notes``). Until qa56 each was dropped without a word (cli_sweep ``--options``).
_PIPELINE = ("pipeline (PP > 1)", lambda cfg: (cfg.get("pp") or 1) > 1)
PLAN_NEEDS = {**{k: _PIPELINE for k in ("pp_split", "pp_pass_microbatches", "pp_partition_method",
                                        "pp_first_stage_less_layers", "pp_last_stage_less_layers", "pp_layout",
                                        "microbatch_group_size")},
              "cp_comm_type": ("context-parallel split (CP > 1)", lambda cfg: (cfg.get("cp") or 1) > 1),
              # Megatron-Core's aligned parameter all-gather dispatch acts on the interleaved schedule only
              # (``Stack.align_param_gather``: validate_args refuses it on a non-interleaved one)
              **{k: ("interleaved pipeline (PP > 1, VPP > 1)",
                     lambda cfg: (cfg.get("pp") or 1) > 1 and (cfg.get("vpp") or 1) > 1)
                 for k in ("align_param_gather", "overlap_param_gather_with_optimizer_step")},
              # TE's userbuffers / torchtitan's async TP overlap a TP group's collectives: none at TP1
              "tp_overlap": ("tensor parallelism (TP > 1)", lambda cfg: (cfg.get("tp") or 1) > 1),
              **{k: ("recompute", lambda cfg: (cfg.get("recompute") or "none") != "none")
                 for k in ("use_reentrant", "recompute_early_stop")}}
assert set(PLAN_NEEDS) <= set(OPTIONS)


def asked_zero(stack: "Stack", model, training) -> dict[str, int]:
    """The options ``training.framework`` sets that the job's model and precision use (``OPTION_USES``) and that run as
    set only from some ZeRO stage on (``LAYOUT_ASKS``): option -> that stage. ``recommend`` searches from it
    (planner.search.space ``StackVariant.asked_zero``), ``estimate`` defaults to it, a lower fixed stage is refused
    (``check_asked_zero``) or said (planner.search.evaluate ``option_notes``)."""
    fw = getattr(training, "framework", None)
    out = {}
    for option, (least, _) in LAYOUT_ASKS.items():
        value = getattr(fw, option, None) if fw is not None else None
        if value is None or not holds(stack, option) or not job_uses(option, model, training):
            continue
        stage = least(stack, value)
        if stage is not None:
            out[option] = stage
    return out


def check_asked_zero(stack: "Stack", model, training, zero: int | None) -> None:
    """Refuse a job whose fixed ``parallel.zero`` is below the stage an option it sets needs, where the real stack stops
    there (``LAYOUT_ASKS`` "refuse")."""
    if zero is None:
        return
    for option, stage in asked_zero(stack, model, training).items():
        if zero < stage and LAYOUT_ASKS[option][1] == "refuse":
            value = str(getattr(training.framework, option)).lower()
            raise InputError(f"training.framework.{option}", f"{value} runs from ZeRO-{stage} on ({stack.name}'s code "
                                                             f"refuses it below); the job fixes parallel.zero: {zero}")


def _record_value(option: str, value):
    """An option's value as a job's ``training.framework`` writes it: ``remat_tensors``' sorted pairs as the mapping
    they came from (none set: null)."""
    if option == "remat_tensors":
        return dict(value) if value else None
    return value


def holds(stack: "Stack", option: str) -> bool:
    """Whether ``stack``'s code has option ``option`` (``OPTION_HOLDERS``; an option not listed: every stack)."""
    row = OPTION_HOLDERS.get(option)
    return row is None or bool(row[0](stack))


def record_options(record: dict) -> dict:
    """The options of a plan's stack record (planner.search.evaluate ``stack_record``: the name, the options the stack
    has and the job uses, ``searched``) as ``resolve`` takes them: the set ones (null: the stack's default). The
    record holds no option the stack lacks (``Stack.options``), so nothing is filtered by stack; ``planner simulate``
    of a plan and the sweep's re-estimates read the record through this."""
    return {k: v for k, v in record.items() if k in OPTIONS and v is not None}


def _current(has) -> str:
    """The current stacks (``FRAMEWORK``, not the pre-registry aliases) for which ``has(stack)`` holds, for a message."""
    return ", ".join(n for n in FRAMEWORK.names if has(STACKS[n])) or "none"


def _nvme_rate_used(model, training) -> bool:
    """Whether a job's plan may read ``nvme_stripe`` / ``nvme_gbps`` (``OPTION_USES``): it sets ``offload_device: nvme``
    or states the rate itself."""
    fw = getattr(training, "framework", None)
    return getattr(fw, "offload_device", None) == "nvme" or bool(nvme_rate_given(dict(fw or {})))


def nvme_rate_given(opts: dict) -> list[str]:
    """The NVMe-rate options (``Stack.nvme_stripe`` / ``nvme_gbps``) ``opts`` sets to say something: ``nvme_stripe: one``
    is the default (a stack record lists it on a cpu plan too), so it is left out."""
    return [k for k in ("nvme_stripe", "nvme_gbps") if opts.get(k) is not None and (k, opts[k]) != ("nvme_stripe", "one")]


def check_option(stack: "Stack", option: str, value: Any = None) -> None:
    """Refuse ``option`` set on ``stack`` where the stack has no such option, or (``value``) does not offer that value
    (``OPTION_HOLDERS``): one line naming the stacks that do."""
    has, what, offered = OPTION_HOLDERS.get(option, (None, None, None))
    field = f"training.framework.{option}"
    if has is not None and not has(stack):
        raise InputError(field, f"{stack.name} has no {what}: leave {option} out (it runs on {_current(has)})")
    if offered is not None and value is not None and value not in offered(stack):
        raise InputError(field, f"{stack.name} has no {value} {option} (it offers {', '.join(offered(stack))}; "
                                f"{value} runs on {_current(lambda st: value in offered(st))})")
    problem = OPTION_VALUE_CHECKS.get(option, lambda v: None)(value) if value is not None else None
    if problem:
        raise InputError(field, problem)


def _pp_layout_problem(value: str) -> str | None:
    """The layout string's grammar and Megatron-Core's model-free checks (planner.model.pipeline ``ExplicitLayout``)."""
    from planner.model.pipeline import ExplicitLayout  # pipeline imports this module
    try:
        return ExplicitLayout.parse(value).structure_error()
    except ValueError as e:
        return str(e)


#: the options whose values are checked beyond ``OPTION_HOLDERS``' vocabularies (free text with a grammar): option ->
#: value -> what is wrong, None when nothing
OPTION_VALUE_CHECKS = {"pp_layout": _pp_layout_problem}


#: ``Stack.grad_all_reduce``'s values
GRAD_ALL_REDUCE = ("never", "bf16", "always")
#: ``Stack.grad_comm_dtype``'s values (None: the gradient buffer's dtype)
GRAD_COMM_DTYPE = (None, "model", "fp32", "fsdp_mp")
#: bytes per element of DeepSpeed's ``communication_data_type`` values (deepspeed/runtime/config.py
#: ``get_communication_data_type``: "fp32" | "fp16" | "bf16")
COMM_DATA_TYPE_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0}
assert set(COMM_DATA_TYPE_BYTES) == set(COMM_DATA_TYPE.names)
OPTION_VALUES.update(communication_data_type=COMM_DATA_TYPE.names, remat_policy=REMAT_POLICY.names,
                     attn_implementation=ATTN_IMPLEMENTATION.names, pp_partition_method=PP_PARTITION_METHOD.names,
                     experts_implementation=EXPERTS_IMPLEMENTATION.names)


def fsdp_reduce_bytes(fw, precision: str, buffer_bytes):
    """Bytes per element of the reduce dtype stack ``fw``'s FSDP reduce-scatters in (and FSDP2 accumulates its held
    unsharded gradients in, torch _fsdp_param.py ``to_accumulated_grad_if_needed``): the gradient buffer's
    ``buffer_bytes`` (``training.grad_dtype``: torchtitan's ``mixed_precision_reduce``, AutoModel's ``FSDP2Config``),
    or under accelerate's FSDP plugin (``grad_comm_dtype`` "fsdp_mp") the run's mixed-precision dtype, 16-bit under
    bf16 / fp16 (and fp8, whose FSDP policy is the bf16 one), fp32 for an fp32 run: accelerate
    ``FullyShardedDataParallelPlugin.set_mixed_precision`` builds ``MixedPrecision(param_dtype=dtype,
    reduce_dtype=dtype, buffer_dtype=dtype)`` for FSDP1 and ``MixedPrecisionPolicy(param_dtype=dtype,
    reduce_dtype=dtype, output_dtype=dtype)`` for FSDP2 (accelerate tests/test_fsdp.py ``test_mixed_precision``, both
    versions), whatever the job's ``training.grad_dtype`` (measured on torch 2.13: tests/data/fsdp2_nosync_truth.json,
    bf16 reduce-scatter inputs and held gradients). Until hfrs56 the HF Trainer's FSDP reduced at
    ``training.grad_dtype`` (fp32 by default): twice the bytes.

    >>> fsdp_reduce_bytes(STACKS["hf-trainer"], "bf16", 4.0), fsdp_reduce_bytes(STACKS["torchtitan"], "bf16", 4.0)
    (2.0, 4.0)
    """
    if getattr(fw, "grad_comm_dtype", None) != "fsdp_mp":
        return buffer_bytes
    return 4.0 if precision == "fp32" else 2.0


def grad_reduce_bytes(fw, precision: str, buffer_bytes: float, fp32_module: bool = False, zero=None):
    """Bytes per gradient element the data-parallel reduce moves on stack ``fw`` (``Stack.grad_comm_dtype``): the
    gradient buffer's ``buffer_bytes`` (planner.model.memory ``model_state_bytes_per_param``), or DeepSpeed's
    ``communication_data_type``: the job's setting (``Stack.communication_data_type``), else the engine's module
    dtype -- 16-bit under fp16 / bf16 and under fp8 (Transformer Engine's FP8 linears inside the bf16 engine), fp32
    for an fp32 run and for an fp32 module under autocast (``fp32_module``: ``Stack.autocasts``, Megatron-DeepSpeed's
    ``weights: amp``, DeepSpeed's ``torch_autocast`` section with neither ``bf16`` nor ``fp16`` enabled: engine.py's
    ``communication_data_type`` property falls through both to ``torch.float32``, deepspeedai/DeepSpeed 0.17+) --
    there ZeRO-0's; its ZeRO 1-3 wrappers reduce by each parameter's tag (``autocast_reduce_bytes``).
    Under accelerate's FSDP (``grad_comm_dtype`` "fsdp_mp") per ZeRO stage ``zero``: ``fsdp_reduce_bytes`` where FSDP
    shards (2, 3), the buffer's below (DDP's all-reduce of the parameters' gradients).

    >>> grad_reduce_bytes(STACKS["deepspeed"], "bf16", 4.0), grad_reduce_bytes(STACKS["megatron-core"], "bf16", 4.0)
    (2.0, 4.0)
    >>> grad_reduce_bytes(STACKS["megatron-deepspeed"], "bf16", 4.0, fp32_module=True)
    4.0
    >>> grad_reduce_bytes(STACKS["hf-trainer"], "bf16", 4.0, zero=np.array([0, 3])).tolist()
    [4.0, 2.0]
    """
    mode = getattr(fw, "grad_comm_dtype", None)
    if mode is None:
        return buffer_bytes
    if mode == "fsdp_mp":
        return np.where(np.asarray(zero if zero is not None else 0) >= 2,
                        fsdp_reduce_bytes(fw, precision, buffer_bytes), buffer_bytes)
    if getattr(fw, "communication_data_type", None) is not None:
        return COMM_DATA_TYPE_BYTES[fw.communication_data_type]
    return 4.0 if mode == "fp32" or precision == "fp32" or fp32_module else 2.0


def autocast_tags_linears(fw, t) -> bool:
    """Whether ``fw`` trains under DeepSpeed's ``torch_autocast`` section (``Stack.autocasts`` on a stack whose
    reduce is DeepSpeed's, ``grad_comm_dtype`` "model") over the HF model code (``Stack.mixed_precision`` set), whose
    ``nn.Linear`` layers ``init_autocast_params`` tags with the autocast dtype as their ``comm_dtype``
    (runtime/torch_autocast.py: ``module.__class__ in lower_precision_safe_module_classes``, an exact class match, so
    not Megatron's ColumnParallelLinear / RowParallelLinear: megatron-deepspeed has no tagged parameter). Read by
    planner.model.memory ``zero_stage_states`` (a reduce bucket per comm dtype) and ``autocast_reduce_bytes``."""
    return (getattr(fw, "grad_comm_dtype", None) == "model" and getattr(fw, "mixed_precision", None) is not None
            and fw.autocasts(t))


#: transformers ``model_type``s whose layer projections are no ``nn.Linear``: GPT-2's ``c_attn`` / ``c_proj`` / ``c_fc``
#: are transformers' ``Conv1D`` (pytorch_utils.py, an ``nn.Module`` of its own, not ``nn.Conv1d``), which DeepSpeed's
#: ``LOWER_PRECISION_SAFE_MODULES`` (``nn.Linear``, ``nn.Conv1d`` / ``2d`` / ``3d``, exact class) does not tag: only the
#: LM head's ``nn.Linear`` is (``autocast_reduce_bytes``)
HF_UNTAGGED_PROJECTIONS = frozenset({"gpt2"})


def autocast_reduce_bytes(fw, m, t) -> tuple[float, float] | None:
    """Bytes per gradient element DeepSpeed's ZeRO 1-3 wrappers reduce under its ``torch_autocast`` section over the HF
    model code (``autocast_tags_linears``), as (dense parameters, routed experts); None elsewhere (``grad_reduce_bytes``).

    The wrappers pick each parameter's reduce dtype from its tag, not from ``communication_data_type``
    (deepspeedai/DeepSpeed @02aa38c3 runtime/zero ``get_param_comm_dtype``: ``if is_autocast_initialized(): return
    get_comm_dtype(param)``, else ``self.communication_data_type``; torch_autocast.py ``get_comm_dtype``:
    ``getattr(param, PARAM_COMM_DTYPE_ATTR_NAME, param.dtype)``) and bucket and reduce by it (stage_1_and_2.py /
    stage3.py ``reduce_independent_p_g_buckets_and_remove_grads``: ``bucket = self.ipg_buckets[comm_dtype]``): the
    ``nn.Linear`` weights and biases in the autocast dtype's 2 B -- the LM head too, and with it a tied embedding,
    whose one parameter the head's ``nn.Linear`` tags -- and the rest in the fp32 module's 4 B: the untied input
    embedding (and learned position / token-type tables: ``nn.Embedding``), the norms, and the routed experts, which
    transformers 5 holds as 3-D parameters of an experts module, no ``nn.Linear`` (the eager ``gate_up_proj[e]`` loop,
    lora52); a family whose projections are no ``nn.Linear`` (``HF_UNTAGGED_PROJECTIONS``: GPT-2) its head alone in 2 B.
    Routers count as linear (Llama 4's is an ``nn.Linear``; Mixtral's / Qwen3-MoE's bare parameters are
    h x experts, under 0.1% of a layer). The share is the model's; a pipeline stage's own (the first holds the
    embedding) is not split out. Under a frozen base (LoRA) only peft's adapters reduce, ``nn.Linear`` ``lora_A`` /
    ``lora_B`` (peft tuners/lora/layer.py ``update_layer``): all of it in 2 B. ZeRO-0 steps the client optimizer and reduces through the engine's
    ``communication_data_type`` (``grad_reduce_bytes``). Until ds52b every ZeRO stage reduced in fp32 here:
    Llama-3-8B moves 2.13 B a gradient element (93.5% of its parameters in ``nn.Linear``), not 4."""
    if not autocast_tags_linears(fw, t) or not m.is_transformer:
        return None
    from planner.model.activations_hf import hf_model_type  # lazy: the HF family the stack's model code is
    from planner.model.finetune import frozen_base
    from planner.spec.params import count_params, norm_params

    tagged = COMM_DATA_TYPE_BYTES[t.precision]  # the autocast dtype: the job's 16-bit precision
    if frozen_base(m, t):  # only peft's adapters have gradients: its lora_A / lora_B are nn.Linear
        return tagged, tagged
    pc = count_params(m)
    routed = m.moe.experts * pc.expert * pc.n_moe_layers if m.moe is not None else 0
    dense = pc.total - routed
    head = m.vocab * m.hidden  # the LM head's nn.Linear weight (a tied embedding's one parameter)
    if hf_model_type(m) in HF_UNTAGGED_PROJECTIONS:
        linear = head / dense
    else:
        fp32 = (pc.embedding - (head if m.tied_embeddings else 0) + pc.final_norm
                + m.layers * m.layer_norms * norm_params(m))
        linear = 1.0 - fp32 / dense
    return linear * tagged + (1.0 - linear) * 4.0, 4.0


def all_reduces_grads(fw, precision: str, fp32_module: bool = False) -> bool:
    """Whether ``fw`` reduces a ZeRO-0/1 job's gradients by an all-reduce of all of them at ``precision``
    (``Stack.grad_all_reduce``). "bf16" is DeepSpeed's BF16_Optimizer path, which only the engine's ``bf16`` section
    builds: an fp32 module under autocast (``fp32_module``, DeepSpeed's ``torch_autocast`` section) has none, and its
    pipeline engine's ZeRO-1 reduces through the ZeRO optimizer (pipe/engine.py ``_exec_reduce_grads`` ->
    engine.py ``allreduce_gradients`` -> ``optimizer.reduce_gradients``)."""
    mode = getattr(fw, "grad_all_reduce", "never")
    if mode not in GRAD_ALL_REDUCE:
        raise ValueError(f"Stack.grad_all_reduce: {mode!r} is not one of {GRAD_ALL_REDUCE}")
    return mode == "always" or (mode == "bf16" and precision == "bf16" and not fp32_module)


@dataclass(frozen=True)
class ZeroStageStates:
    """What a ZeRO optimizer wrapper holds on the GPU per trained parameter at one stage, besides the 16-bit
    weights (whole below ZeRO-3, the rank's 1/N shard at ZeRO-3) and the optimizer's fp32 master + state
    (planner.model.memory ``OPTIMIZER_STATE``, so any optimizer), where N is the ZeRO sharding group
    (planner.model.memory ``memory_per_gpu``). Bytes per parameter:

    * ``grads_kept``: the 16-bit ``.grad`` tensors autograd makes (2 B each): "none" when each is reduced in a
      bucket and removed during the backward (reduce-and-remove hooks); "accumulated" when they stay whole until
      the accumulation boundary's reduce and the step's ``zero_grad`` (as DDP's); "persist" when nothing frees
      them at the step, so the last backward's are still held through the next forward (cleared only when the
      next backward starts). A stack that runs the Hugging Face model code has them in its walked step
      (planner.model.memory_activations ``_hf_walk_arrays``), any other in its gradient term;
    * ``acc_bytes``: an unsharded gradient-accumulation buffer of its own;
    * ``shard_grad_bytes``: the rank's gradient partition (1/N of it);
    * ``optimizer_sharded``: the fp32 master and optimizer state are partitioned over the N ranks;
    * ``reduce_buckets``: contiguous reduce buffers of ``ZERO_REDUCE_BUCKET_ELEMS`` 16-bit elements each, without
      and with overlapped reduction (``Stack.overlap_grad_reduce``: DeepSpeed ``overlap_comm``);
    * ``largest_grad_buffer``: a 16-bit buffer of the rank's largest single parameter, held all run (DeepSpeed's
      ``temp_grad_buffer_for_gpu_offload`` under optimizer offload, ``ZERO_OFFLOAD_ROWS``);
    * ``host_bit16_bytes``: under optimizer offload, host bytes per parameter of the rank's partition besides the
      master, the state and the fp32 gradient (planner.model.offload ``host_optimizer_bytes``): DeepSpeed's 16-bit
      copy of the updated partition (``param_buffer_of_bit16_for_cpu_offload_groups``, ``ZERO_OFFLOAD_ROWS``);
    * ``host_accum_bytes``: the same, held only with gradient accumulation (more than one micro-batch a step):
      DeepSpeed's per-parameter host accumulation buffers (``accumulated_grads_in_cpu``);
    * ``mb_copy_bytes``: under optimizer offload, host-link bytes (both directions, one stream) per parameter of the
      rank's partition that the wrapper's gradient handling copies in a micro-batch's backward besides the boundary's
      fp32 gradient copy out, as (a step of one micro-batch; of more: the first, each middle one, the last):
      DeepSpeed's 16-bit accumulation through the host (``ZERO_OFFLOAD_ROWS``; priced by planner.model.offload
      ``partition_copies_exposed``);
    Where the wrapper's collectives run (reduce from hooks or after the backward, ZeRO-3 on which stream) is not
    here: it does not depend on the precision or the weights (``ZeroStreams``, ``ZERO_STREAMS``).
    """

    wrapper: str
    grads_kept: str = "none"
    acc_bytes: float = 0.0
    shard_grad_bytes: float = 0.0
    optimizer_sharded: bool = True
    reduce_buckets: tuple[int, int] = (0, 0)
    largest_grad_buffer: bool = False
    host_bit16_bytes: float = 0.0
    host_accum_bytes: float = 0.0
    mb_copy_bytes: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


#: ``ZeroStageStates.grads_kept``'s values
GRADS_KEPT = ("none", "accumulated", "persist")
#: ``GRADS_KEPT``'s codes: what planner.model.memory ``zero_stage_states`` returns per ZeRO stage and
#: memory_activations ``_hf_walk_arrays`` reads per candidate (in memory.py until split47b)
KEPT_NONE, KEPT_ACCUMULATED, KEPT_PERSIST = range(3)
#: DeepSpeed's ``zero_optimization.reduce_bucket_size`` default, 5e8 elements (deepspeed/runtime/zero/config.py
#: ``DeepSpeedZeroConfig.reduce_bucket_size = Field(pp_int(5e8))``; stage3.py ``DeepSpeedZeroOptimizer_Stage3.__init__``
#: ``reduce_bucket_size=500000000``). The Hugging Face Trainer's "auto" config fills hidden x hidden instead
#: (transformers integrations/deepspeed.py ``trainer_config_finalize``); the planner takes DeepSpeed's own default, as
#: ``Stack.zero3_bucket_params`` does for ``stage3_prefetch_bucket_size``
ZERO_REDUCE_BUCKET_ELEMS = 5e8

# DeepSpeed, read from microsoft/DeepSpeed (the stored versions of deepspeed/runtime/engine.py, bf16_optimizer.py,
# fp16/fused_optimizer.py, zero/stage_1_and_2.py and zero/stage3.py, 2022-2025):
_BF16_OPTIMIZER = ZeroStageStates(
    # bf16_optimizer.py ``BF16_Optimizer._setup_for_real_optimizer``: the flat bf16 parameters whole
    # (``bf16_groups_flat``); the fp32 master only for the rank's partition (``fp32_groups_flat_partition`` =
    # ``bf16_dp_partitions[partition_id].clone().float()``), so the optimizer state too; and an fp32 gradient
    # accumulation buffer the size of the whole flat group (``fp32_groups_gradients_flat`` = ``torch.zeros_like(
    # self.bf16_groups_flat[i], dtype=torch.float32)``; later ``dtype=self.grad_acc_dtype``), into which
    # ``update_hp_grads`` adds each bf16 ``.grad`` after the backward. The bf16 ``.grad`` are set to None only by
    # ``clear_lp_grads`` at the start of the next ``backward`` (and, with ``immediate_grad_update``, zeroed in place,
    # not freed); the engine's ``_take_model_step`` calls no ``zero_grad`` for bf16 without ZeRO ("pass"). Its
    # reduce runs after the backward (``ZERO_STREAMS``)
    "BF16_Optimizer", grads_kept="persist", acc_bytes=4.0, optimizer_sharded=True)
_ZERO_1 = ZeroStageStates(
    # stage_1_and_2.py ``DeepSpeedZeroOptimizer`` with ``partition_grads`` False: the flat 16-bit parameters whole,
    # the fp32 master partition (``single_partition_of_fp32_groups``) and its state. engine.py
    # ``_configure_zero_optimizer``: "Overlap and contiguous grads are meaningless in stage 1" -- ``overlap_comm`` and
    # (non-MoE) ``contiguous_gradients`` forced False, so no reduce-and-remove hooks (registered only ``if
    # self.partition_gradients or self.overlap_comm``) and no contiguous bucket: autograd accumulates the 16-bit
    # ``.grad`` whole until ``reduce_gradients`` at the boundary (engine.py ``allreduce_gradients``, after the
    # backward: ``ZERO_STREAMS``); ``zero_grad`` after the step frees them
    "DeepSpeedZeroOptimizer", grads_kept="accumulated", optimizer_sharded=True)
_ZERO_2 = ZeroStageStates(
    # stage_1_and_2.py with ``partition_grads``: each gradient is copied into the reduce bucket and removed by its
    # hook (``reduce_ready_partitions_and_remove_grads``); the rank's partition accumulates in one contiguous 16-bit
    # buffer (``copy_grads_in_partition``: ``grads_in_partition = torch.empty(total_size, dtype=self.dtype)``), held
    # by ``averaged_gradients`` until the step; ``backward`` allocates the contiguous reduce buffer
    # (``ipg_buffer``: ``torch.empty(int(self.reduce_bucket_size), dtype=self.dtype)``, a second one ``if
    # self.overlap_comm``) before ``loss.backward`` -- at the activations' peak
    "DeepSpeedZeroOptimizer", grads_kept="none", shard_grad_bytes=2.0, optimizer_sharded=True, reduce_buckets=(1, 2))
_ZERO_3 = ZeroStageStates(
    # stage3.py ``DeepSpeedZeroOptimizer_Stage3._setup_for_real_optimizer``: the 16-bit parameter partitions
    # (``ds_tensor``), the fp32 partitions and their state, one flat gradient partition buffer
    # (``grad_partitions_flat_buffer`` = ``torch.zeros(sum(p.ds_tensor.ds_numel ...), dtype=self.dtype)``, sliced into
    # ``__param_id_to_grad_partition``; later in ``gradient_accumulation_dtype``) and one contiguous reduce bucket held
    # all run (``__ipg_bucket_flat_buffer = torch.empty(self.reduce_bucket_size, dtype=self.dtype)`` with
    # ``contiguous_gradients``, the default). The gathered weights in flight are memory_per_gpu's ZeRO-3 term; its
    # streams are ``ZERO_STREAMS``'
    "DeepSpeedZeroOptimizer_Stage3", grads_kept="none", shard_grad_bytes=2.0, optimizer_sharded=True,
    reduce_buckets=(1, 1))

# DeepSpeed under optimizer offload (ZeRO-Offload, Ren et al. 2021; ``zero_optimization.offload_optimizer`` /
# the older ``cpu_offload``), read from deepspeedai/DeepSpeed deepspeed/runtime/zero/stage_1_and_2.py and stage3.py
# (stored versions 2024-2025; the 2021 stage2.py of the ZeRO-Offload tutorial has the same paths): the gradient
# partition leaves the GPU, the reduce buckets stay. On the host, besides the fp32 master, state and gradient
# (``offload.host_optimizer_bytes``), ``DeepSpeedZeroOptimizer.__init__`` (stage_1_and_2.py @02aa38c3) allocates
# ``if self.cpu_offload`` a 16-bit buffer the shape of the rank's fp32 partition (``temp_buffer_bit16 =
# torch.full(weights_partition.shape, ..., dtype=temp_dtype)``, pinned with ``cpu_offload_pin_memory``, appended to
# ``param_buffer_of_bit16_for_cpu_offload_groups``; the step casts the updated master into it and copies it to the
# GPU's 16-bit partition): 2 B a parameter. With gradient accumulation (``gradient_accumulation_steps > 1``),
# ``copy_grads_in_partition`` calls ``async_accumulate_grad_in_cpu_via_gpu`` for every parameter of the partition,
# which keeps a host buffer of the whole parameter in its dtype (``buffer_to_accumulate_to_in_cpu``: ``torch.zeros(
# param.numel(), dtype=param.dtype, device=self.device)``, pinned likewise) in ``accumulated_grads_in_cpu`` all run:
# 2 B more (a parameter straddling the partition's edge is counted by its share, not whole). Stage 3 is not read
# for these (``_ZERO_3_OFFLOAD`` keeps none). Until 2026-12-06 (ds46b) neither was counted.
#
# What crosses the host link per micro-batch (``mb_copy_bytes``, read 2026-12-06 by offload47): stage_1_and_2.py's
# ``async_accumulate_grad_in_cpu_via_gpu`` (the 2021 stage2.py through the 2024 stage_1_and_2.py) copies, per parameter
# of the partition and in its 16-bit dtype, the host accumulation buffer in (``dest_buffer.copy_(
# self.accumulated_grads_in_cpu[param_id] ...)``, then ``add_`` on the GPU) ``if self.micro_step_id > 0`` and the
# accumulated gradient out (``copy_gradients_to_cpu``) ``if not self.is_gradient_accumulation_boundary`` ("at the
# boundary we will send 32bit directly": ``async_inplace_copy_grad_to_fp32_buffer_from_gpu``, the fp32 copy out that
# offload.optimizer_terms prices). So a step of m > 1 micro-batches: the first 2 B out, each middle one 2 B in + 2 B
# out, the last 2 B in; m = 1 none. The newest stored version (deepspeedai @02aa38c3) copies out only at micro-step 0
# (``else: copy_gradients_to_cpu()``): 2 B less per middle micro-batch, not taken (the ZeRO-Offload paper's runs are
# the older code). ``reduce_ipg_grads`` runs these on ``self.reduction_stream`` under ``overlap_comm``, else on the
# current (compute) stream.
_ZERO_1_OFFLOAD = replace(
    # ``self.contiguous_gradients = contiguous_gradients or self.cpu_offload`` ("CPU-Offload requires contiguous
    # gradients"), though engine.py turns it (and ``overlap_comm``) off for stage 1: the reduce at the accumulation
    # boundary goes through one contiguous bucket (``setup_buckets`` in ``process_gradients``), the 16-bit ``.grad``
    # still whole until then; ``temp_grad_buffer_for_gpu_offload = torch.zeros(largest_param_numel, device=<GPU>,
    # dtype=self.dtype)`` is allocated in ``__init__`` ``if self.cpu_offload``
    # Stage 1 registers no reduce hooks (no ``partition_gradients``, ``overlap_comm`` off): ``reduce_gradients`` walks
    # the parameters after the boundary's backward, on the current stream, so only that micro-batch's copy in
    # (``micro_step_id > 0``) crosses, exposed whole (``ZERO_STREAMS``' ZeRO-1 row)
    _ZERO_1, reduce_buckets=(1, 1), largest_grad_buffer=True, host_bit16_bytes=2.0, host_accum_bytes=2.0,
    mb_copy_bytes=(0.0, 0.0, 0.0, 2.0))
_ZERO_2_OFFLOAD = replace(
    # ``copy_grads_in_partition`` returns before it allocates ``grads_in_partition`` ``if self.cpu_offload``: each
    # reduced bucket's partition goes to the host fp32 gradient (``async_inplace_copy_grad_to_fp32_buffer_from_gpu``
    # into ``single_partition_of_fp32_groups[i].grad``, allocated on ``self.device`` = 'cpu') and the ``.grad`` view
    # into the bucket is cleared; with gradient accumulation the micro-batches before the boundary copy it to a host
    # buffer per parameter (``accumulated_grads_in_cpu``) and add it back through ``temp_grad_buffer_for_gpu_offload``
    # (``async_accumulate_grad_in_cpu_via_gpu``). On the GPU: the reduce buckets (``ipg_buffer``, two with
    # ``overlap_comm``) and that largest-parameter buffer
    _ZERO_2, shard_grad_bytes=0.0, largest_grad_buffer=True, host_bit16_bytes=2.0, host_accum_bytes=2.0,
    mb_copy_bytes=(0.0, 2.0, 4.0, 2.0))
_ZERO_3_OFFLOAD = replace(
    # stage3.py ``DeepSpeedZeroOptimizer_Stage3.__init__``: ``self.device = ... if not self.offload_optimizer else
    # OffloadDeviceEnum.cpu``, and ``_setup_for_real_optimizer`` allocates ``grad_partitions_flat_buffer`` on
    # ``self.device`` (pinned with ``offload_optimizer_pin_memory``): the gradient partition on the host; the
    # contiguous reduce bucket (``__ipg_bucket_flat_buffer``) stays on the GPU; ``partition_grads`` accumulates a
    # host partition through a transient GPU copy of one parameter's shard. ``partition_grads`` (stage3.py @02aa38c3,
    # the same since 2021): micro-step 0 copies the reduced shard out (``grad_buffer.copy_(grad_partition)``) and back
    # in (``grad_buffer.to(grad_partition.device)``, the GPU copy the boundary's fp32 copy out reads); every later one
    # copies the host partition in, adds, and copies it out ("adding directly to cpu is very slow"): 2 B in + 2 B out
    # (the 16-bit accumulation dtype) every micro-batch, on ``reduce_and_partition_stream`` under ``overlap_comm``
    _ZERO_3, shard_grad_bytes=0.0, mb_copy_bytes=(4.0, 4.0, 4.0, 4.0))
#: the rows that replace a DeepSpeed table's ZeRO 1-3 rows under ``Stack.optimizer_offload`` (``zero_state_rows``);
#: ZeRO-0 has no offload (``offload.valid_masks``). bf16 ZeRO-1 runs ``DeepSpeedZeroOptimizer`` with CPU offload
#: whatever its accumulation dtype (engine.py ``_do_optimizer_sanity_check``, below), so ``_BF16_OPTIMIZER`` does not
#: stay. Until 2026-12-06 (zoff46) the whole 16-bit partition was counted on the GPU: the ZeRO-Offload tutorial's 10B
#: GPT-2 on one V100 read 21.0 GiB of gradients where DeepSpeed holds its buckets and one parameter's buffer (2.2 GiB)
ZERO_OFFLOAD_ROWS: tuple[ZeroStageStates | None, ...] = (None, _ZERO_1_OFFLOAD, _ZERO_2_OFFLOAD, _ZERO_3_OFFLOAD)

#: per ``Stack.zero_states``: per 16-bit precision, the ``ZeroStageStates`` of ZeRO stages 0, 1, 2, 3.
#: Which wrapper a stage gets is engine.py ``_do_optimizer_sanity_check`` with ``get_data_types`` (DeepSpeed
#: 0.9-0.16, e.g. commit 2ef4fd57): ``grad_accum_dtype`` defaults to fp32 for bf16 without ZeRO, the model dtype
#: otherwise; bf16 with fp32 accumulation runs ``BF16_Optimizer`` (ZeRO-0, and ZeRO-1 when ``data_types.
#: grad_accum_dtype`` is fp32 without CPU offload); fp16 without ZeRO runs ``FP16_Optimizer`` (fp16/fused_optimizer.py
#: with FusedAdam: ``fp32_groups_flat`` = the whole flat group ``.clone().float()``, nothing partitioned, the fp16
#: ``.grad`` whole until ``zero_grad``; its step's fp32 flat gradient is a transient of the step, when the
#: activations are gone); ZeRO 1-3 run ``DeepSpeedZeroOptimizer`` / ``_Stage3``. The newest stored engine.py
#: defaults ``grad_accum_dtype`` to the model dtype and sends bf16 ZeRO-0 to ``FP16_Optimizer`` (``DDP_BFLOAT16``):
#: not this table.
#:
#: * "deepspeed": ``deepspeed.initialize`` on a module (the HF Trainer / accelerate path): bf16 ZeRO-1 accumulates
#:   in bf16 by default, so ``DeepSpeedZeroOptimizer``.
#: * "deepspeed-pipe": DeepSpeed's pipeline engine (Megatron-DeepSpeed): bf16 at ZeRO <= 1 is ``BF16_Optimizer``
#:   -- pipe/engine.py reduces bf16 gradients only through it (``_exec_reduce_grads`` -> ``_bf16_reduce_grads``;
#:   engine.py ``allreduce_gradients`` asserts "not valid when bfloat+pipeline_parallelism"), so its bf16 ZeRO-1 jobs
#:   set fp32 gradient accumulation (BLOOM ran ZeRO "stage 0" with bf16: this wrapper's partitioned optimizer).
#:
#: Bytes per parameter with Adam (12 B of master + moments), N ranks, besides the reduce buckets:
#: bf16 ZeRO-0 2 + 2 + 4 + 12/N (both), ZeRO-1 2 + 2 + 12/N ("deepspeed") or 2 + 2 + 4 + 12/N ("deepspeed-pipe");
#: fp16 ZeRO-0 2 + 2 + 12, ZeRO-1 2 + 2 + 12/N; ZeRO-2 2 + 14/N; ZeRO-3 16/N.
ZERO_STATES: dict[str, dict[str, tuple[ZeroStageStates, ...]]] = {
    "deepspeed": {
        "bf16": (_BF16_OPTIMIZER, _ZERO_1, _ZERO_2, _ZERO_3),
        "fp16": (ZeroStageStates("FP16_Optimizer", grads_kept="accumulated", optimizer_sharded=False),
                 _ZERO_1, _ZERO_2, _ZERO_3),
    },
}
ZERO_STATES["deepspeed-pipe"] = {**ZERO_STATES["deepspeed"],
                                 "bf16": (_BF16_OPTIMIZER, _BF16_OPTIMIZER, _ZERO_2, _ZERO_3)}
assert all(s.grads_kept in GRADS_KEPT and len(rows) == 4
           for table in ZERO_STATES.values() for rows in table.values() for s in rows)


def zero_state_rows(stack, training) -> tuple[ZeroStageStates, ...] | None:
    """The ``ZERO_STATES`` rows (ZeRO stages 0..3) a stack's optimizer wrapper holds for ``training``: its table
    (``Stack.zero_states``) at the job's 16-bit precision with fp32 master weights (``weights: megatron``), the
    defaults the table is read at; None where the stack has no table or the job another convention (the ZeRO
    paper's layout and ``training.grad_dtype`` apply); under ``Stack.optimizer_offload`` the offloaded wrapper's
    ZeRO 1-3 rows (``ZERO_OFFLOAD_ROWS``). The memory (planner.model.memory ``zero_stage_states``) and the time of the
    unfused accumulation (planner.model.step_time ``grad_accum_pass``) both read it."""
    if training.weights != "megatron":
        return None
    return _offloaded(stack, ZERO_STATES.get(getattr(stack, "zero_states", None) or "", {}).get(training.precision))


def _offloaded(stack, rows):
    """A table's ZeRO 0..3 ``rows`` with ZeRO 1-3 the offloaded wrapper's (``ZERO_OFFLOAD_ROWS``) under
    ``Stack.optimizer_offload``."""
    if rows is None or not getattr(stack, "optimizer_offload", False):
        return rows
    return tuple(off or row for off, row in zip(ZERO_OFFLOAD_ROWS, rows))


#: DeepSpeed's ZeRO 0..3 rows over an fp32 module without any 16-bit section (None: the ZeRO paper's row). engine.py
#: ``_do_optimizer_sanity_check`` (deepspeedai/DeepSpeed @007cca6a as stored) returns ``ZERO_OPTIMIZATION`` for any
#: ZeRO stage whatever the model dtype (only bf16 ZeRO-1 with fp32 accumulation goes to ``BF16_Optimizer``), so ZeRO
#: 1-3 build ``DeepSpeedZeroOptimizer`` / ``_Stage3`` with ``self.dtype`` the parameters' fp32 -- on the pipeline
#: engine too (its bf16 ZeRO-1 override is bf16's); at ZeRO-0 the engine steps the client optimizer (the model dtype
#: equals the accumulation dtype: no wrapper), the paper's row. Read at the fp32 module's bytes by
#: ``fp32_module_zero_rows``
FP32_ZERO_ROWS: tuple[ZeroStageStates | None, ...] = (None, _ZERO_1, _ZERO_2, _ZERO_3)


#: bytes a parameter of the fp32 master partition DeepSpeed's ZeRO 1-3 wrappers clone from the module's parameters
#: whatever their dtype (stage_1_and_2.py ``DeepSpeedZeroOptimizer.__init__``: ``weights_partition =
#: self.parallel_partitioned_bit16_groups[i][partition_id].detach().clone().to(device=self.device,
#: dtype=self.master_weights_and_grads_dtype)``, fp32 by default; stage3.py ``_create_fp32_partitions``: the 16-bit
#: partition ``.clone().float()``): a copy beside an fp32 module too (``fp32_module_zero_rows``)
DS_MASTER_PARTITION_BYTES = 4.0


def fp32_module_zero_rows(stack, training) -> tuple[ZeroStageStates | None, ...] | None:
    """The ``ZERO_STATES`` rows (ZeRO stages 0..3, None: the ZeRO paper's row) a DeepSpeed stack's optimizer wrapper
    holds under DeepSpeed's ``torch_autocast`` config section, the one way DeepSpeed trains an fp32 module under
    ``torch.autocast`` (``Stack.autocasts``: the deepspeed stack's ``mixed_precision: amp``, megatron-deepspeed's
    ``weights: amp``), read at the module's fp32 dtype by planner.model.memory ``zero_stage_states``; None where the
    stack has no DeepSpeed table, does not autocast, or offloads its optimizer (not read: the paper's rows).

    DeepSpeed runs no other AMP. The HF Trainer's ``bf16=True`` / ``fp16=True`` fill the DeepSpeed config's
    ``bf16.enabled`` / ``fp16.enabled`` (transformers integrations/deepspeed.py ``HfTrainerDeepSpeedConfig.
    trainer_config_process``: ``self.fill_match("bf16.enabled", (args.bf16 or args.bf16_full_eval), ...)``) and
    accelerate leaves autocast off under DeepSpeed (accelerator.py ``Accelerator.__init__``: ``native_amp`` only ``if
    ... self.distributed_type not in (DistributedType.DEEPSPEED, DistributedType.MEGATRON_LM)``), so the engine casts
    the module to 16 bits (``_configure_distributed_model``) and its wrapper keeps the fp32 master: the stack's
    ``mixed_precision: bf16``, ``weights: megatron`` (``zero_state_rows``). Only ``"torch_autocast": {"enabled":
    true}`` with the bf16 / fp16 sections off (DeepSpeed >= 0.17) keeps the module fp32 and runs the engine's
    forward under ``autocast_if_enabled`` (runtime/torch_autocast.py); ``init_autocast_params`` then tags the
    parameters of ``nn.Linear`` / ``nn.Conv*`` modules (``LOWER_PRECISION_SAFE_MODULES``, matched by exact class) with
    the autocast dtype as their ``comm_dtype``. At ZeRO-0 the engine steps the client optimizer over the fp32 module
    (``torch_autocast_z0_gradscaler``: "grad scaler only for Z0 (no ZeRO)"): the paper's row. At ZeRO 1-3 it builds
    the same ``DeepSpeedZeroOptimizer`` / ``_Stage3`` as for a 16-bit module with ``self.dtype`` the parameters'
    fp32 (stage_1_and_2.py @02aa38c3: ``self.dtype = self.optimizer.param_groups[0]['params'][0].dtype``): the flat
    parameters whole (ZeRO-1/2) in fp32, a gradient partition in fp32 (``grads_in_partition``, ``dtype=self.dtype``),
    the fp32 master partition cloned beside them (``DS_MASTER_PARTITION_BYTES``) and one reduce bucket per comm
    dtype (``self.ipg_buckets = {dtype: IPGBucket() for dtype in comm_dtypes}``, ``comm_dtypes =
    get_all_comm_dtypes(...)`` ``if is_autocast_initialized()``; stage3.py allocates each ``torch.empty(
    self.reduce_bucket_size, dtype=dtype)``). Under ``Stack.optimizer_offload`` the offloaded wrapper's rows
    (``ZERO_OFFLOAD_ROWS``), the same code with ``self.dtype`` fp32 (``offload_zero_rows`` reads their host bytes);
    until ds52c the paper's rows there.

    Plain fp32 (no ``bf16`` / ``fp16`` / ``torch_autocast`` section: the planner's ``precision: fp32``) builds the same
    wrappers over the same fp32 module (``FP32_ZERO_ROWS``): the rows are this function's too, less the autocast
    dtype's reduce bucket (``autocast_tags_linears`` False); until dsfp53 the paper's rows there."""
    if not getattr(stack, "zero_states", None):
        return None
    if stack.autocasts(training):
        rows = ZERO_STATES[stack.zero_states].get(training.precision)
    elif training.precision == "fp32":
        rows = FP32_ZERO_ROWS
    else:
        return None
    rows = _offloaded(stack, rows)
    return None if rows is None else (None, *rows[1:])


#: bytes an element of the module DeepSpeed's ``torch_autocast`` section trains: fp32 (the bf16 / fp16 sections off,
#: the engine casts no module: ``fp32_module_zero_rows``), so the wrapper's ``self.dtype`` buffers are fp32
DS_AUTOCAST_MODULE_BYTES = 4.0


def offload_zero_rows(stack, training) -> tuple[tuple[ZeroStageStates | None, ...], float] | None:
    """(ZeRO 0..3 rows, bytes an element of the module) of a DeepSpeed stack's optimizer wrapper, the rows' host and
    host-link fields (``host_bit16_bytes``, ``host_accum_bytes``, ``mb_copy_bytes``) in the module's bytes rather
    than the 16-bit ones the table is written in: the one reading of the wrapper that planner.model.memory
    ``offload_host_rows`` (its host buffers), planner.model.step_time ``zero_offload_copies`` (its micro-batch
    copies), ``grad_accum_pass`` (the kept ``.grad`` it accumulates) and ``offload_step`` (the partition the CPU step
    copies back: planner.model.offload ``optimizer_terms``' ``param_bytes``) share. None where the stack has no table
    for the job.

    Under ``weights: megatron`` the module is 16-bit (``zero_state_rows``): 2 B, the rows as written. Under DeepSpeed's
    ``torch_autocast`` section (``fp32_module_zero_rows``; ZeRO-0 None: the client optimizer) the module is fp32 and every
    buffer DeepSpeed sizes by it is fp32, 4 B where the table has 2 (deepspeedai/DeepSpeed @02aa38c3
    runtime/zero/stage_1_and_2.py ``DeepSpeedZeroOptimizer.__init__``: ``temp_buffer_bit16`` of ``temp_dtype =
    self.parallel_partitioned_bit16_groups[i][partition_id].dtype``, the host copy the step writes the updated master
    into and copies back; ``temp_grad_buffer_for_gpu_offload`` of ``dtype=self.dtype``; ``accumulated_grads_in_cpu``
    of ``param.dtype``; stage3.py ``grad_partitions_flat_buffer`` of ``self.dtype``). The fp32 master partition it
    clones (``DS_MASTER_PARTITION_BYTES``) is on the host with the state (planner.model.memory ``optimizer_offload``).
    Until ds52c these readers took the paper's rows under torch_autocast (no wrapper buffers, 16-bit copies)."""
    rows = zero_state_rows(stack, training)
    if rows is not None:
        return rows, 2.0
    rows = fp32_module_zero_rows(stack, training)
    if rows is None:
        return None
    k = DS_AUTOCAST_MODULE_BYTES / 2.0  # the table's 16-bit element in the fp32 module's
    return tuple(r and replace(r, host_bit16_bytes=r.host_bit16_bytes * k, host_accum_bytes=r.host_accum_bytes * k,
                               mb_copy_bytes=tuple(b * k for b in r.mb_copy_bytes)) for r in rows), \
        DS_AUTOCAST_MODULE_BYTES


@dataclass(frozen=True)
class ZeroStreams:
    """Where a ZeRO optimizer wrapper's per-step collectives run at one stage: the engine's and the stage's code, the
    same whatever the precision and the weights (``ZERO_STATES`` holds what the states weigh, by precision and with
    fp32 master weights only; this holds for every job of the stack):

    * ``reduces_in_backward``: whether the wrapper reduces from gradient hooks during the backward, bucket by bucket,
      so that DeepSpeed's ``overlap_comm`` puts the reduce and, under offload, the copies to the host on its
      reduction stream beside the backward; False: it reduces after the backward has returned, on the compute
      stream, whatever ``overlap_comm`` says (read by planner.model.step_time ``reduce_in_backward`` and by the stack
      line's ``overlap_grad_reduce_label``; until ds47, 2026-12-06, ``mb_copy_side_stream``, read for the offload
      copies only). What the wrapper holds meanwhile (the 16-bit ``.grad`` kept whole to the boundary) is the
      states' (``ZeroStageStates.grads_kept``);
    * ``z3_streams_by_overlap``: whether the wrapper's per-micro-batch ZeRO-3 collectives (the parameter all-gathers
      and the gradient reduce-scatters) get streams of their own only under ``overlap_comm``
      (``Stack.overlap_grad_reduce``) and run on the compute stream otherwise, serialised with the forward and
      backward (read by planner.model.step_time ``z3_on_compute_stream``; until ds47b, 2026-12-06, they hid under the
      passes whatever ``overlap_comm`` said).

    Until left47 (2026-12-06) both were fields of ``ZeroStageStates``, so a job without fp32 master weights
    (``weights: pure`` / ``amp``, no ``ZERO_STATES`` rows) had neither rule."""

    reduces_in_backward: bool = True
    z3_streams_by_overlap: bool = False


# DeepSpeed, read from deepspeedai/DeepSpeed (stored 2022-26 versions). engine.py ``allreduce_gradients``, called from
# the engine's ``backward`` after ``loss.backward()`` returns (``_backward_epilogue``): "ZeRO stage >= 2 communicates
# during non gradient accumulation boundaries as well" (``zero_optimization_partition_gradients``: the hooks'
# ``overlapping_partition_gradients_reduce_epilogue``), else "Communicate only at gradient accumulation boundaries"
# -- ZeRO-1's ``reduce_gradients`` or, at ZeRO-0 (BF16_Optimizer, FP16_Optimizer, or the client optimizer of an fp32
# module under ``torch_autocast``), ``buffered_allreduce_fallback``: after the backward whatever the wrapper holds.
# ``_configure_zero_optimizer``: "Overlap and contiguous grads are meaningless in stage 1" (``overlap_comm`` forced
# off, no reduce hooks). Stage 3 (stage3.py ``__init__``): ``self.reduce_and_partition_stream = ... get_accelerator().
# Stream() if overlap_comm else get_accelerator().default_stream()``, the stream ``__reduce_and_partition_ipg_grads``
# reduce-scatters each bucket on from the gradient hooks; parameter_offload.py ``DeepSpeedZeRoOffload.__init__`` the
# same for the gathers (``self.__allgather_stream = ... Stream() if overlap_comm else ... default_stream()``, handed to
# ``PartitionedParameterCoordinator``): without ``overlap_comm`` both run between the layers' kernels. The pipeline
# engine ("deepspeed-pipe") reduces after its last backward (pipe/engine.py ``_exec_reduce_grads``) and refuses
# ZeRO-2/3 with more than one stage (stack_rules ``ds-zero-pp``): the same rows
_DEEPSPEED_STREAMS = (ZeroStreams(reduces_in_backward=False), ZeroStreams(reduces_in_backward=False), ZeroStreams(),
                      ZeroStreams(z3_streams_by_overlap=True))
#: per ``Stack.zero_states``: the ``ZeroStreams`` of ZeRO stages 0, 1, 2, 3 (``zero_stream_rows``)
ZERO_STREAMS: dict[str, tuple[ZeroStreams, ...]] = {"deepspeed": _DEEPSPEED_STREAMS,
                                                    "deepspeed-pipe": _DEEPSPEED_STREAMS}
assert set(ZERO_STREAMS) == set(ZERO_STATES) and all(len(rows) == 4 for rows in ZERO_STREAMS.values())


def zero_stream_rows(stack) -> tuple[ZeroStreams, ...] | None:
    """The ``ZERO_STREAMS`` rows (ZeRO stages 0..3) of a stack's optimizer wrapper (``Stack.zero_states``), for every
    job of the stack whatever its precision and weights; None where the stack has no table (FSDP / FSDP2, the
    Megatron optimizers: each collective on the streams its own options say). The one lookup the step time
    (planner.model.step_time ``zero_stream_field``) and the stack line (``Stack.overlap_grad_reduce_label``) read."""
    return ZERO_STREAMS.get(getattr(stack, "zero_states", None) or "")


STACKS: dict[str, Stack] = {
    "megatron-core": Stack(
        "megatron-core", has_compile=False, has_grad_accum_fusion=True, main_grad_buffer=True, tp_overlaps=("te", "none"), loss="megatron_ce", fused_softmax_keys=MCORE_FUSED_SOFTMAX_KEYS, vocab_pad=128, layer_host_ops=20.0, head_ops=20.0, kernels_layer=12.0, fused_norm_linear=True, attn_kernel="cudnn",
        doc_masking=True,
        caches_fp8_weights=True, te_linears=True, te_tp_linears=True, quantised_tp_gathers=("tensorwise", "delayed", "blockwise", "mxfp8", "nvfp4"), te_amax_reduction="megatron", tp_bwd_async=True, fused_glu=True, fp8_weight_bytes=2.0, fp8_param_gather=True,
        moe_grouped_gemm=True, moe_megatron_layer=True,
        module_recompute=True, partial_recompute=True, moe_probs_in_experts=True, offloads=("activation", "optimizer"), optimizer_offload_zero=1, overlap_p2p=True,
        has_megatron_fsdp=True, moe_dispatchers=("alltoall", "deepep", "hybridep"), has_moe_a2a_overlap=True,
        has_cuda_graphs=True, cp_comm_types=CP_COMM_TYPE.names,
        # BertModel.forward: self.lm_head then self.output_layer on the whole encoder output (stack_rules
        # mcore-head-positions, cpmem51)
        head_on_masked_positions=False,
        cross_entropy_fusion="native", ce_fusions=CE_FUSION.names,  # NeMo / Megatron-Bridge turn the fusion on
        tp_overlap="te", overlap_grad_reduce=True, overlap_param_gather=True, param_gather_stage_lazy=True,
        align_param_gather=True, align_grad_reduce=True, fp8_recipe="tensorwise",
        sources="Megatron-LM megatron/core (TransformerLayer, TE specs: gpt_layer_specs.py "
                "get_gpt_layer_with_transformer_engine_spec); --tp-comm-overlap, --overlap-grad-reduce, "
                "--overlap-param-gather as NeMo/Megatron-Bridge performance recipes set them; TE "
                "current scaling (Float8CurrentScaling) is the Megatron-Bridge H100 default"),
    "megatron-lm": Stack(
        "megatron-lm", has_compile=False, has_grad_accum_fusion=True, main_grad_buffer=True, has_reshard=False, has_param_gather=False, offloads=(), loss="megatron_ce", ce_unfused=True, fused_softmax_keys=2048, vocab_pad=128, overlap_grad_reduce=True, overlap_param_gather=False, pp_scatter_gather=True,
        partial_recompute=True, moe_switch_mlp=True,
        # megatron/model/bert_model.py: BertLMHead on the whole encoder output (stack_rules megatron-lm-head-positions)
        head_on_masked_positions=False,
        sources="Megatron-LM 2021-22 legacy ParallelTransformerLayer (megatron/model/transformer.py), "
                "fused kernels, no TP overlap; Narayanan et al. 2021, Korthikanti et al. 2022"),
    # weights: amp here is DeepSpeed's torch_autocast config section (deepspeedai/DeepSpeed 0.17+: "torch_autocast":
    # {"enabled": true, "dtype": "bfloat16"}, bf16 / fp16 sections off, Megatron-DeepSpeed launched without --bf16):
    # megatron/training.py get_model returns the model before its Float16Module wrap when args.deepspeed, engine.py
    # _configure_distributed_model casts the module only under fp16 / bf16, and DeepSpeedEngine.forward, which the
    # pipeline engine's _exec_forward_pass calls, runs under runtime/torch_autocast.py autocast_if_enabled: fp32
    # weights under torch.autocast, the casts Stack.autocasts charges. Not the "amp" section (apex amp.initialize): fp16
    # only, "Amp and ZeRO are not currently compatible", and the pipeline engine's non-last stages backward outside
    # amp.scale_loss. Under it the module is fp32: fp32 gradient collectives (grad_reduce_bytes) and no BF16_Optimizer
    # all-reduce (all_reduces_grads), small32b
    "megatron-deepspeed": Stack(
        "megatron-deepspeed", has_compile=False, has_reshard=False, has_param_gather=False, loss="megatron_ce", ce_unfused=True, fused_softmax_keys=2048, vocab_pad=128, overlap_grad_reduce=False, overlap_param_gather=False, pp_scatter_gather=True,
        grad_accum_pass=True, grad_all_reduce="bf16", zero_states="deepspeed-pipe", grad_comm_dtype="model",
        has_ds_checkpointing=True,  # --deepspeed-activation-checkpointing: DeepSpeed's CheckpointFunction (ds46)
        # its copy of legacy bert_model.py: the LM head on every position (megatron-deepspeed-head-positions)
        head_on_masked_positions=False,
        sources="microsoft/Megatron-DeepSpeed (legacy Megatron layers + DeepSpeed pipeline engine: "
                "gradients reduced after the last backward, deepspeed/runtime/pipe/engine.py "
                "_exec_reduce_grads; bf16: an all-reduce of the bf16 optimizer's fp32 gradients, "
                "_bf16_reduce_grads, cast to bf16 for the collective: engine.py communication_data_type; "
                "weights amp: DeepSpeed's torch_autocast section over the fp32 module, fp32 collectives)"),
    "torchtitan": Stack(
        "torchtitan", has_pp_pass=True, explicit_softmax="sdpa_math", tp_overlaps=("async_tp", "none"), selectives=("op", "layer"), has_fused_qkv=True, has_tp_gather_per_linear=True, has_loss_parallel=True, has_tp_embedding_replicated=True, torch_checkpoint=True, fp8_weight_bytes=2.0, loss="torch_ce", loss_compiles=True, pp_fsdp_unsharded=True, pp_reshard_after_forward=False, fsdp2_dp=True, fsdp2_root="head", hsdp_all_reduce_per_microbatch=True, cp_exchange="allgather", repeats_kv_heads=True, torch_cp_ring=True, pp_recv_per_microbatch=True, kernels_layer=18.0, compile=True, attn_kernel="fa2", eager_fp32_ops=True, selective="op", tp_overlap="async_tp", reshard_after_forward=True,
        fp8_recipe="rowwise", fused_qkv=True, dualpipev_ep_overlap=True,
        quantised_tp_gathers=("tensorwise",),  # torchao Float8ColwiseParallel / Float8RowwiseParallel
        tp_saves_gathered_inputs=True,  # DTensor ColwiseParallel behind PrepareModuleInput(Replicate)
        # gpt-oss: FlexAttention only ("gpt-oss only supports FlexAttention"), ``return_lse=True``, then the sinks as
        # eager ``torch.sigmoid(lse - self.sinks)``, ``output * sink_scale.to(output.dtype)``
        # (torchtitan/models/gpt_oss/model.py @ 0014ac2c; model/model.py @ 00b1b07d); FlexAttention priced at FA2's
        # rates, like AutoModel's. Compiled per block when compile.enable (gpt_oss/parallelize.py @ 0008504f
        # ``apply_compile``), which fuses them: priced only with compile off
        sink_rescale_kernels=("fa2",), sink_rescale_form="scale_cast",
        sources="pytorch/torchtitan (parallelize_llama: FSDP2 fully_shard per block, "
                "reshard_after_forward default for non-PP; apply_compile per block; "
                "enable_async_tensor_parallel; Float8LinearConverter, recipe_name rowwise by default, "
                "tensorwise in every version but 0.3.0: stack_rules.FP8_RECIPES)"),
    "deepspeed": Stack(
        "deepspeed", bnb_whole_at_zero3=True, explicit_softmax="transformers", has_reshard=False, has_param_gather=False, grad_comm_dtype="model", zero3_bucket_params=5e7, zero3_max_live_params=1e9, zero3_persistence_params=1e5, zero_states="deepspeed", layer_host_ops=45.0, kernels_layer=18.0, attn_kernel="fa2", eager_fp32_ops=True, overlap_grad_reduce=True,
        # ZeRO-1/2 gather the updated bf16 partitions synchronously at the end of ``step()``
        # (deepspeed/runtime/zero/stage_1_and_2.py ``all_gather_dp_groups``); ZeRO-3's gathers are
        # prefetched per module whatever this says, on their own stream under ``overlap_comm`` (overlap_grad_reduce)
        # only (``ZeroStreams.z3_streams_by_overlap``)
        overlap_param_gather=False,
        doc_masking=True,  # HF model code: flash_attention_2 varlen from position_ids
        mixed_precision="bf16",  # its bf16 engine: bf16 module, fp32 master in the optimizer
        casts_module_to_half=True,  # ... the module cast after get_peft_model: peft's adapters bf16 too (lorads50)
        # EP is AutoEP (``expert_parallel.autoep_size``), an all-to-all dispatch folded over AutoTP; until dsep35
        # priced as transformers' ep_plan of an older revision (EP = TP, attention whole, shared experts whole)
        moe_ep_tp_fold=True, moe_ep_tp_grad_average=True,
        tp_sequence_parallel=False,  # AutoTP: LinearLayer / LinearAllreduce, norms whole (rule hf-tp-sp)
        tp_splits_experts=False,  # AutoTP splits nn.Linear only: transformers 5's 3-D experts whole (rule ds-autotp-etp)
        # its context parallelism is ALST / Ulysses (accelerate's deepspeed CP backend; DeepSpeed
        # runtime/sequence_parallel/ulysses_sp.py): all-to-alls over heads, not a ring (rule ds-ulysses-heads).
        # Until QA 49 priced as Megatron-Core's overlapped p2p ring: no CP exchange in the step
        cp_exchange="a2a",
        eager_rope="transformers",  # the HF model code's apply_rotary_pos_emb (module in bf16: 24 B, as "rope")
        head_on_masked_positions=False,  # the HF model code's BERT heads: every position (hf-head-positions)
        offloads=("optimizer", "param"),  # offload_optimizer; ZeRO-3 offload_param (stack48)
        offload_devices=("cpu", "nvme"),  # ZeRO-Infinity's NVMe swap (stage3.py ``_configure_tensor_swapping``; nvme49)
        # the layers are checkpointed by transformers' gradient_checkpointing_enable (torch.utils.checkpoint, as on
        # hf-trainer: non-reentrant under transformers 5, early stop on), not by deepspeed.checkpointing: the DeepSpeed
        # config's activation_checkpointing section reaches only code that calls deepspeed.checkpointing.checkpoint
        # (Megatron-DeepSpeed's mpu.checkpoint), whose reentrant CheckpointFunction re-runs the whole layer. Until
        # stack48 the deepspeed stack re-ran it whole too
        torch_checkpoint=True, use_reentrant=False, recompute_early_stop=True,
        sources="microsoft/DeepSpeed ZeRO (deepspeed/runtime/zero/stage3.py: parameter prefetch "
                "(stage3_prefetch_bucket_size), overlap_comm; HF model code eager)"),
    "hf-trainer": Stack(
        "hf-trainer", explicit_softmax="transformers", torch_checkpoint=True, layer_host_ops=45.0, kernels_layer=20.0, attn_kernel="fa2", eager_fp32_ops=True, overlap_grad_reduce=True,
        fsdp_zero2_param_dtype=True,  # accelerate FSDP MixedPrecision(param_dtype=bf16) at SHARD_GRAD_OP
        fsdp_versions=(1, 2),  # accelerate's FSDP plugin: FullyShardedDataParallel or fully_shard (truth51)
        # the Trainer syncs FSDP gradients on a step's last micro-batch only (accelerate's ``sync_each_batch`` False,
        # its default): FSDP1 ``no_sync`` / FSDP2 ``set_requires_gradient_sync(False)``, per version in
        # ``_with_fsdp_version`` (hffsdp56)
        defer_fsdp_grad_sync=True,
        # accelerate's FSDP MixedPrecision(Policy) reduces in the mixed-precision dtype, not training.grad_dtype (hfrs56)
        grad_comm_dtype="fsdp_mp",
        # under fsdp_version 2 (fsdp2_dp, set by _with_fsdp_version) accelerate's ``fsdp2_prepare_model``
        # (src/accelerate/utils/fsdp_utils.py) runs ``fully_shard`` on each auto-wrapped block and then on the model:
        # the embedding, final norm and LM head are the root unit, which FSDP2 never reshards after forward; under
        # fsdp_version 1 ``FullyShardedDataParallel`` with the transformer auto-wrap policy leaves the same modules
        # to its root unit, which FSDP1 does not reshard after forward either (measured: fsdp1_truth.json)
        fsdp2_root="embed_head",
        doc_masking=True,  # flash_attention_2 varlen from DataCollatorWithFlattening's position_ids
        mixed_precision="amp",  # TrainingArguments(bf16=True): autocast over the fp32 model
        hf_plans=True,  # transformers' base_model_tp_plan / base_model_ep_plan (rules hf-ep-tp, hf-etp)
        # EP: transformers 5.23's ep_dispatch_experts under ep_implementation "auto", which trains through
        # AllToAllEP (distributed/expert_parallel.py ``AutoEP``: all_reduce only without gradients): the TP peers
        # each send 1/TP of the shared batch's (token, expert) rows by all-to-all and all-gather the results over TP
        moe_ep_tp_fold=True,
        tp_sequence_parallel=False,  # its tp_plan: colwise / rowwise with an all-reduce, norms whole (rule hf-tp-sp)
        doc_masking_cp=False,  # accelerate's torch CP: SDPA, causal mask only
        # accelerate's torch CP is PyTorch's ``context_parallel`` with ``TorchContextParallelConfig.cp_comm_strategy``
        # "allgather" by default (docs/source/concept_guides/context_parallelism.md: "no need to use cp_config at
        # all, if you want to use the default 'allgather'"): the K/V all-gather before the kernel, exposed. Until
        # QA 49 priced as Megatron-Core's overlapped p2p ring (no CP exchange in the step at all)
        cp_exchange="allgather",
        torch_cp_ring=True,  # ... its ring backward's buffers (hfcp54), K/V at the grouped heads (repeats_kv_heads off)
        has_zero1=False,  # DDP or FSDP; ZeRO-1 is the deepspeed stack's
        bnb_whole_at_zero3=True,  # FSDP2 shards no bitsandbytes weight, FSDP1 no quant state
        fused_ce_kernel="liger",  # TrainingArguments.use_liger_kernel (default False: fused_cross_entropy off)
        te_amax_reduction="accelerate",  # accelerate's TE autocast: no fp8_group, the world group (amaxd46)
        use_reentrant=False,  # transformers 5's gradient_checkpointing_enable default (Stack.use_reentrant, hfckpt47)
        # torch's non-reentrant checkpoint stops early by default (checkpoint(early_stop=True); the global
        # set_checkpoint_early_stop None), and transformers 5 passes nothing but use_reentrant:
        # gradient_checkpointing_enable builds functools.partial(checkpoint, **gradient_checkpointing_kwargs) and
        # GradientCheckpointingLayer.__call__ calls it with the layer's __call__ (modeling_layers.py). Off with
        # use_reentrant: true (Stack.with_options; hf47)
        recompute_early_stop=True,
        # transformers' apply_rotary_pos_emb, fp32 under autocast over fp32 weights, bf16 under FSDP's bf16 gather
        # (layer_ops.eager_rope_bytes, Stack.fp32_stream)
        eager_rope="transformers",
        head_on_masked_positions=False,  # BertForPreTraining's cls head on every position (hf-head-positions)
        sources="huggingface/transformers Trainer + accelerate (DDP bucketed all-reduce, or FSDP); "
                "eager LlamaDecoderLayer"),
    "dle-convnets": Stack(
        "dle-convnets", has_compile=False, tp_overlaps=(), selectives=(), has_reshard=False, has_param_gather=False, has_channels_last=True, offloads=(), optimizer_tensor_ops=4.0, overlap_grad_reduce=True, mixed_precision="amp",
        # torch DDP wraps whatever module the script builds: no from_pretrained to pass an attention to (pytorch-ddp's
        # transformer launch said "load the model with from_pretrained(...)" until QA 98)
        attn_launch="torch DDP wraps the script's own model, whose code picks its attention: make it run {choice!r}, or "
                    "re-plan with training.framework.attn_implementation set to the one it runs",
        sources="NVIDIA/DeepLearningExamples PyTorch/Classification/ConvNets (resnet50v1.5 README tables, "
                "pytorch-21.03 NGC container = torch 1.9): torch.optim.SGD with momentum (image_classification/"
                "optimizers.py get_sgd_optimizer), whose torch 1.9 step loops over the parameter tensors "
                "(torch/optim/_functional.py sgd: buf.mul_(momentum).add_(d_p), param.add_(d_p, alpha=-lr)) and "
                "optimizer.zero_grad() zeroes each .grad (set_to_none=False before torch 2.0): 4 launches a tensor "
                "(the weight-decay add on the decayed tensors left out); torch.cuda.amp autocast + GradScaler "
                "(enabled=args.amp), DDP; channels_last as each recipe's memory_format (configs.yml)"),
    "llm-foundry": Stack(
        "llm-foundry", explicit_softmax="torch_autocast", loss="xentropy_held", loop_holds_output=True, kernels_layer=18.0, attn_rel=0.5, attn_kernel="fa2", attn_hdim_tiles=TRITON_FA_HEAD_DIM_TILES, recompute_early_stop=True, torch_checkpoint=True,
        fsdp_zero2_param_dtype=True,  # Composer get_mixed_precision: DEFAULT / PURE set param_dtype to the precision
        # the ends gathered through backward (read fsdp52c): Composer composer/distributed/dist_strategy.py
        # ``prepare_fsdp_module`` makes each child of the ComposerModel an FSDP1 root, auto-wrapping what
        # ``_fsdp_wrap`` / ``fsdp_wrap_fn`` name; an hf_causal_lm model (llmfoundry/models/hf/hf_fsdp.py) wraps its
        # blocks only, its embedding, final norm and head the root's; MPTForCausalLM (llmfoundry/models/mpt/
        # modeling_mpt.py) sets ``_fsdp_wrap = True`` on wte, emb_drop, norm_f: its tied embedding, used as the head
        # too, is gathered from the head's backward to the embedding's (planner.model.memory
        # ``fsdp2_root_gather_params``, measured there). No ``fsdp1_no_sync``: trainer.py ``_train_microbatch`` enters
        # ``ddp_sync_context``, which yields at once unless the model is a DistributedDataParallel -- FSDP
        # reduce-scatters every micro-batch, nothing held unsharded
        fsdp2_root="embed_head",
        # amp_fp8: Composer's Transformer Engine fp8_autocast with DelayedScaling, its only recipe (stack_rules
        # FP8_RECIPES "composer"); until 2026-12-03 priced as the registry default, tensorwise (current scaling)
        fp8_recipe="delayed",
        te_amax_reduction="composer",  # its amax all-reduces over the world group, twice a forward (amaxd46)
        sources="mosaicml/llm-foundry MPT yamls of the benchmark era: attn_impl triton (FA1-era "
                "Triton kernel, a copy of flash_attn_triton.py: 'Overall Triton forward + backward is "
                "slightly slower than CUDA' FlashAttention-1; FlashAttention-2 is ~2x faster, Dao 2023 "
                "abstract), FSDP via Composer; amp_fp8 = TE DelayedScaling (composer/core/precision.py); "
                "the kernel uses Ampere mma.sync, no Hopper wgmma/TMA path, so on H100 it is scaled "
                "from FlashAttention-2's H100 rate (0.34 of peak, FA3 paper Fig. 5), not the H100 prior"),
    "metaseq": Stack(
        "metaseq", explicit_softmax="kernel", has_compile=False, overlap_grad_reduce=True,
        # fairscale FSDP with mixed_precision=True gathers its fp32 flat shard at compute_dtype and frees the 16-bit
        # shard once gathered, the FSDP1 layout (``fsdp_zero2_param_dtype``'s comment has the source; ds52b)
        fsdp_zero2_param_dtype=True,
        fsdp_fp32_shard_master=True,  # --fp16 / --bf16: the fp32 shard is the master (ds52c)
        # criterions/vocab_parallel_cross_entropy.py: ``vocab_parallel_cross_entropy(net_output[0].float(), target)``
        # (megatron.mpu, in place on that fp32 copy), the output dropped when the criterion returns, before backward
        loss="megatron_ce",
        sources="facebookresearch/metaseq (OPT-175B): fairscale FSDP + Megatron TP layers"),
    "nemo": None, "megatron-bridge": None,  # filled below: Megatron-Core under another launcher
    # the pre-registry names, kept so existing callers keep their numbers
    "megatron": Stack("megatron", has_compile=False, has_reshard=False, has_param_gather=False, offloads=(), loss="megatron_ce", ce_unfused=True, fused_softmax_keys=2048, vocab_pad=128, overlap_grad_reduce=True, overlap_param_gather=False,
                      sources="alias of megatron-lm's op counts (pre-registry default)"),
    "fsdp": Stack("fsdp", kernels_layer=18.0, torch_checkpoint=True, fsdp_zero2_param_dtype=True,
                  sources="PyTorch FSDP, eager (pre-registry name)"),
}
assert all(st.grad_all_reduce in GRAD_ALL_REDUCE and st.grad_comm_dtype in GRAD_COMM_DTYPE
           and (st.explicit_softmax in EXPLICIT_SOFTMAX or st.explicit_softmax in EXPLICIT_SOFTMAX_RULES)
           for st in STACKS.values() if st is not None)
#: NVIDIA DeepLearningExamples' PyTorch BERT pre-training (PyTorch/LanguageModeling/BERT, the 2022 code of the
#: pytorch:21.11-py3 README tables): the Hugging Face model code's layer (modeling.py: nn.Linear q / k / v, bmm + softmax
#: attention, nn.LayerNorm, F.gelu), so hf-trainer's eager op count, with what run_pretraining.py changes around it:
#: ``model.half()`` under ``--allreduce_post_accumulation_fp16`` (scripts/run_pretraining.sh default) with
#: FusedLAMBAMP's fp32 master (``setup_fp32_params``) and no autocast (``mixed_precision`` bf16: the module cast to 16
#: bits); DDP built with ``bucket_cap_mb=torch.cuda.get_device_properties(device).total_memory`` (bytes read as MB:
#: one bucket, reduced after the whole backward: ``overlap_grad_reduce`` off); ``torch.jit.script(model)`` with NVFuser
#: enabled (``torch._C._jit_set_nvfuser_enabled(True)``, unless ``--disable_jit_fusions``): its own scripted attention
#: (``attention_scores / sqrt(d) + mask``, softmax, dropout: the fused 16-bit softmax, ``explicit_softmax`` "unread",
#: not transformers' per-family eager code) and each residual dropout fused into its add (``fused_residual_dropout``);
#: torch 1.11's addmm bias copy (``addmm_bias_copy``). Checkpointing (``--checkpoint_activations``) is
#: torch.utils.checkpoint's reentrant default of torch 1.11 (no early stop). What its code has a switch for
#: (dle50): no torch.compile (torch 1.11; its fusion is TorchScript's, ``--disable_jit_fusions``), no tensor
#: parallelism, selective recompute, FSDP reshard, parameter gather or offload (torch DDP over the whole
#: ``modeling.BertForPreTraining``, ``--checkpoint_activations`` the only recompute: whole layers), and one attention,
#: its own matmul + softmax (``attn_implementation`` "eager"). A job names it as
#: ``training.framework: dle-bert`` (``FRAMEWORK``); ``framework: auto`` does not search it (defaults.AUTO_FRAMEWORKS),
#: and its launch limits are planner.model.stack_rules' ``dle-bert`` rows; validate's ``bert (DLE)`` rows run it
STACKS["dle-bert"] = replace(
    STACKS["hf-trainer"], name="dle-bert", defer_fsdp_grad_sync=False, explicit_softmax="unread", mixed_precision="bf16", overlap_grad_reduce=False,
    addmm_bias_copy=True, fused_residual_dropout=True, use_reentrant=None, recompute_early_stop=False,
    head_on_masked_positions=True,  # modeling.py dense_sequence_output: the MLM head on the masked rows only
    te_amax_reduction="", fused_ce_kernel="",
    has_compile=False, tp_overlaps=(), selectives=(), has_reshard=False, has_param_gather=False, offloads=(),
    fsdp_versions=(),  # DDP only (no parameter gather): no FSDP to choose
    # modeling.py BertSelfAttention: torch.matmul(query, key^T) / sqrt(d) + mask, softmax, dropout, matmul -- no
    # flash or sdpa kernel, whatever training.flash_attention says (validate's rows set it off): transformers'
    # "eager" reading of the same ops (stack_kernels ``hf_attn_choice``; another value is refused, dle-bert-attn)
    attn_implementation="eager", attn_launch="",
    sources="NVIDIA/DeepLearningExamples PyTorch/LanguageModeling/BERT (modeling.py, run_pretraining.py, "
            "scripts/run_pretraining.sh of the pytorch:21.11-py3 tables): HF BERT layer, model.half() + FusedLAMBAMP "
            "fp32 master, one-bucket DDP, TorchScript + NVFuser; torch 1.11 addmm bias copy")
#: plain PyTorch data parallelism for a model without transformer layers (a CNN, a generic model): the
#: dle-convnets entry's settings (the stack the ResNet-50 validation rows run), derived so the two cannot drift
STACKS["pytorch-ddp"] = replace(
    STACKS["dle-convnets"], name="pytorch-ddp",
    sources="plain PyTorch data parallelism for a model without transformer layers (a CNN, a generic model): "
            "torch.nn.parallel.DistributedDataParallel (bucketed gradient all-reduce overlapped with the backward), "
            "torch.autocast + GradScaler, torch.optim with one update per parameter tensor; the settings of the "
            "dle-convnets entry (the stack the ResNet-50 validation rows run, benchmarks/validate.py resnet50), not "
            "tied to NVIDIA's ConvNets code: the default an open training.framework takes for such a model "
            "(defaults.FRAMEWORK_NON_TRANSFORMER)")
#: NVIDIA NeMo AutoModel (github.com/NVIDIA-NeMo/Automodel): PyTorch-native, FSDP2 over Hugging Face-layout model
#: code with its own fused modules. Each field where it differs from the registry's default, read from its source
#: (the stored versions of nemo_automodel/components/moe/{parallelizer,fsdp_mixin,experts}.py, models/common
#: ``BackendConfig``, recipes/llm/{benchmark,train_ft}.py, and the benchmark configs of its performance summary,
#: examples/benchmark/configs/*_te_deepep.yaml, 2025-10 .. 2026-02; read 2026-12-02). Not a Megatron-Core entry:
#: no Megatron TransformerLayer, no TE userbuffers, no combined-1F1B EP overlap, no Megatron CUDA graphs, no
#: per-module recompute list. What no source gives a number for is said so at the field.
STACKS["nemo-automodel"] = Stack(
    "nemo-automodel", loop_holds_output=True, has_pp_pass=True, selectives=("op",),
    # it trains transformers' model code, whose BERT heads run on every position (stack_rules automodel-head-positions)
    head_on_masked_positions=False,
    # TE modules where ``BackendConfig(linear="te", rms_norm="te", attn="te")`` (its defaults on CUDA with TE): the
    # linears are te.Linear (te_linears) and the norm a separate TE RMSNorm module, not TE's LayerNormLinear
    # (models build ``initialize_rms_norm_module`` and ``initialize_linear_module`` apart): fused_norm_linear off;
    # attention TE DotProductAttention (cuDNN on Hopper/Blackwell; a row whose config says ``attn: sdpa|flex`` sets
    # its kernel); GQA heads passed as they are (no repeat_kv before TE / SDPA)
    te_linears=True, fused_norm_linear=False, attn_kernel="cudnn",
    # gpt-oss attention takes ``attn: flex | te`` only (models/gpt_oss/layers.py ``GptOssAttention`` asserts it). TE
    # folds the sinks into cuDNN's softmax (``softmax_type="learnable"``); FlexAttention (components/attention/
    # flex_attention.py, compiled ``flex_attention`` with ``return_lse=True``, priced at FA2's rates) leaves them to
    # eager torch ops after the kernel: ``torch.sigmoid(lse - w)``, ``out * scale`` (fp32), ``.to(q.dtype)``
    sink_rescale_kernels=("fa2",),
    # DeepSeek-V3 / Kimi K2 attention: models/deepseek_v3/layers.py ``MLA._forward_impl`` (@0b5d3f7c) runs
    # ``torch.cat([q_nope, q_pe])`` and ``torch.cat([k_nope, k_pe.expand(...)])`` eagerly (its ``compile_attn`` only
    # with attn=sdpa; the benchmark configs set attn: te), RoPE by TE's fused kernel (``rope_fusion``)
    mla_eager_cat=True,
    # host ops: eager module calls (no torch.compile in the benchmark configs, no Megatron fused layer); not counted
    # from AutoModel's blocks -- the registry's eager default (40 per layer, 16 kernels), which moves no
    # automodel row by more than 0.1 point against Megatron-Core's 20 / 12 (validate.automodel)
    # the model's own vocabulary (HF AutoConfig, no --make-vocab-size-divisible-by)
    vocab_pad=0,
    # the loss a recipe's ``loss_fn`` names: components/loss/masked_ce.py ``MaskedCrossEntropy`` (the llm recipes'
    # and the benchmark configs' choice; recipes/llm/train_ft.py builds ``cfg.loss_fn``), with its class default
    # ``fp32_upcast=True`` (the ``ce_fp32_upcast`` option; the benchmark configs set it false). The other classes a
    # recipe's ``loss_fn`` can name are the ``loss_fn`` option (its ``chunk_size`` path, ``FusedLinearCrossEntropy``,
    # ``TEParallelCrossEntropy``: activations.LOSS_TRANSIENT_BYTES)
    loss="masked_ce",
    # packed rows through TE THD (``squeeze_input_for_thd``, cu_seqlens into TE DotProductAttention)
    doc_masking=True,
    # experts: grouped GEMMs (``GroupedExpertsDeepEP``: ``grouped_gemm.ops.gmm`` per projection, experts="gmm"),
    # the routing weights applied in the activation (``WeightedSwiGLUFunction.apply(output1, permuted_probs)``)
    moe_grouped_gemm=True, moe_probs_in_experts=True,
    # the DeepEP path's activation keeps only its input and the weights (Stack.moe_fused_act_dispatchers)
    moe_fused_act_dispatchers=("deepep",),
    # its DeepEP experts' eager ops: fc1's and fc2's bias loops (fp32 under DeepEP's probabilities), the clamp
    # compiled into ``quick_geglu_deepep`` (moe.EXPERT_EAGER_FORMS "automodel"; auto55)
    moe_expert_eager="automodel",
    # shared experts on a second stream beside the routed path (moe/layers.py ``MoE.forward``:
    # ``_shared_experts_stream``, "to overlap compute with the communication for grouped experts")
    moe_shared_stream=True,
    # dispatch: "torch" (DTensor all-to-all) or DeepEP through the vendored Megatron-Core MoEFlexTokenDispatcher
    # (components/moe/megatron/token_dispatcher.py, fused_a2a.py); BackendConfig's default is "torch"
    moe_dispatchers=("alltoall", "deepep"), moe_dispatcher="alltoall",
    # activation checkpointing: ``ptd_checkpoint_wrapper(block, preserve_rng_state=True)`` per decoder block
    # (moe/parallelizer.py ``apply_ac``): torch's non-reentrant checkpoint with no early_stop argument, i.e.
    # torch's default, early stop on; "selective" = the dense FSDP2 path's torchtitan-style per-op SAC policy
    # (``make_selective_checkpoint_context_fn``, shared with the MoE ``apply_ac(selective=True)``)
    torch_checkpoint=True, recompute_early_stop=True, selective="op",
    # FSDP2 ``fully_shard`` per block, ``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=float32)``
    # (``apply_fsdp``); ``parallelize_model(..., reshard_after_forward=False)`` is the MoE path's default
    # (MoEParallelizerConfig), passed through with or without PP. The dense path's (FSDP2Config
    # ``reshard_after_forward: None``) reshards every block but the last without PP and none under PP
    # (distributed/parallelizer.py ``apply_fsdp2_sharding_recursively``): ``dense_defaults``, the stack default of a
    # model without MoE layers (an explicit option still wins without PP; under PP the priced dense stage is kept
    # gathered, as the heuristic, and planner.present.emit launches it so); the dense (HF) path's parameter dtype is
    # not walked: ``params_16bit`` off there, the entry's fp32-master pricing as before
    reshard_after_forward=False, overlap_grad_reduce=True, overlap_param_gather=True,
    dense_defaults=(("reshard_after_forward", (("reshard_after_forward", True), ("pp_reshard_after_forward", False))),
                    ("params_16bit", (("params_16bit", False),))),
    # PP: torch.distributed.pipelining (``AutoPipeline``). Its ``backward_maybe_with_nosync`` turns off gradient
    # sync and reshard after backward until the last backward when the stage module is an FSDPModule
    # (``wrap_outer_model=True``, the default), and AutoModel's ``patched_backward_maybe_with_nosync`` does the same
    # for its MoE models when ``enable_fsdp_optimizations`` is set (train_ft.py
    # ``patch_stage_backward_maybe_with_nosync``): the stage gathered once and reduce-scattered once per step
    pp_fsdp_unsharded=True,
    # ZeRO-2/3 are fsdp2 (``reshard_after_forward: false`` at ZeRO-2, planner.present.emit) over fp32 parameters;
    # outside the blocks: dense models' root unit (embedding, norm, head; distributed/parallelizer.py), MoE models'
    # own embedding and head units (moe/parallelizer.py ``apply_fsdp``): Stack.fsdp2_root
    fsdp2_dp=True, fsdp2_root="embed_head|head",
    # its schedules are torch.distributed.pipelining's (AutoPipeline ``pp_schedule: interleaved1f1b``): Megatron-Core's
    # ``overlap_p2p_comm`` is not theirs, and no source here says their sends hide under compute: off, as torchtitan
    overlap_p2p=False,
    # ... and so are its stages (functional.py ``PipelineStage``), with torch's receive buffers, one a micro-batch a
    # direction; AutoPipeline's ring pool of them (``pp_recv_buffer_pool``, recv_buffer_pool.py) defaults off
    pp_recv_per_microbatch=True,
    # without PP: ``MoEFSDPSyncMixin`` defers the same when the config's BackendConfig sets
    # ``enable_fsdp_optimizations`` (default False): an option
    has_fsdp_defer_sync=True, fsdp_defer_sync=False,
    # ... which only MoE models carry: on a dense one ``enable_fsdp_optimizations`` changes nothing
    moe_only=(("fsdp_defer_sync", "NeMo AutoModel's enable_fsdp_optimizations acts through moe/fsdp_mixin.py "
                                  "MoEFSDPSyncMixin, which only its MoE models inherit (the loop calls "
                                  "prepare_for_grad_accumulation only where a model has it); the dense path's "
                                  "gradient sync is defer_fsdp_grad_sync"),),
    # and, whatever that option, its loop's ``get_sync_ctx(model, is_last)``: FSDP2Config ``defer_fsdp_grad_sync``
    # (default True; before the switch, always): one reduce-scatter a step without PP
    defer_fsdp_grad_sync=True,
    # TP: DTensor ``parallelize_module`` (no TE userbuffers, no async column-parallel backward); the MoE
    # parallelizer asserts TP 1 ("Tensor parallelism not supported for custom MoE models")
    tp_overlap="none", tp_bwd_async=False,
    # CP: TE DotProductAttention ``set_context_parallel_group(..., cp_comm_type="p2p")`` (``apply_cp``)
    cp_exchange="p2p",
    # Nemotron 3's Mamba mixer (models/nemotron_v3/layers.py ``NemotronV3Mamba2Mixer``, training path without CP):
    # ``mamba_split_conv1d_scan_combined(..., rmsnorm_weight=self.norm.weight, outproj_weight=self.out_proj.weight)``
    # on the (b l d) in_proj output -- the Hugging Face call (ssm.SCAN_BYTES_HF). With CP it calls the kernel
    # without them and runs the gated norm after (not priced apart: the "hf" tables still)
    mamba_call="hf",
    # FSDP2 CPUOffloadPolicy
    offloads=("optimizer",),
    # the optimizer block is ``_target_: torch.optim.Adam`` (betas, eps, lr, weight_decay 0 in every benchmark config of
    # the performance summary), instantiated as is (recipes/llm/train_ft.py ``build_optimizer``: ``foreach = False``
    # only under TP > 1): torch's default, the foreach path
    optimizer_foreach=True,
    # its MoE models' parameters in bf16, no fp32 master, the Adam moments bf16 (``params_16bit``: their
    # ``initialize_weights(dtype=torch.bfloat16)``; until Automodel PR #1896, 2026-04, which every row of its
    # performance summary predates)
    params_16bit=True,
    sources="NVIDIA-NeMo/Automodel (nemo_automodel/components/moe/parallelizer.py apply_fsdp / apply_ac / apply_cp, "
            "moe/fsdp_mixin.py MoEFSDPSyncMixin and patched_backward_maybe_with_nosync, moe/experts.py "
            "GroupedExpertsDeepEP (grouped_gemm gmm, Megatron-Core MoEFlexTokenDispatcher + DeepEP), models/common "
            "BackendConfig (te linear / rms_norm / attention), attention/flex_attention.py FlexAttention (gpt-oss sinks, "
            "2026-12-04), models/deepseek_v3/layers.py MLA (its eager q / k joins, 2026-12-05), recipes/llm/benchmark.py; "
            "read 2026-12-02): FSDP2 per "
            "block with bf16 params and fp32 reduce, no reshard after forward by default, torch non-reentrant "
            "checkpoint per block, eager")
#: NeMo 2 ships Megatron-Core's defaults the entry already holds (nemo2map38): the native fused loss
#: (nemo/collections/llm/gpt/model/base.py ``GPTConfig.cross_entropy_loss_fusion = True``, the impl Megatron-Core's
#: "native"), the distributed optimizer without the precision-aware option (recipes/optim/adam.py
#: ``distributed_fused_adam_with_cosine_annealing``: OptimizerConfig's default), no recompute unless a model config sets
#: it. Its performance scripts' overrides (helpers.py: TE's loss; the precision-aware optimizer under bf16) are run
#: options, mapped per run (benchmarks/validate.py ``nemo2_perf_script``), not the entry's defaults
STACKS["nemo"] = replace(STACKS["megatron-core"], name="nemo", sources="NVIDIA NeMo 2.x on " + STACKS["megatron-core"].sources)
STACKS["megatron-bridge"] = replace(STACKS["megatron-core"], name="megatron-bridge",
                                    sources="NVIDIA Megatron-Bridge recipes on " + STACKS["megatron-core"].sources)

#: Megatron-Core on Intel Gaudi is Intel's fork, HabanaAI/Megatron-LM (README @004966d2: "This implementation is based
#: on https://github.com/NVIDIA/Megatron-LM at core_r0.9.0"; Changelog 1.20.0 "Rebased code to upstream core_r0.9.0";
#: validated: LLaMA 3.1 pre-training on Gaudi 2 and 3, Mixtral 8x7B bf16 on Gaudi 2). What it runs, from its code and
#: its launch script examples/llama/pretrain_llama.sh (same commit), where it differs from the upstream entry:
#: * fp8: Intel Transformer Engine (megatron/core/extensions/intel_transformer_engine.py, ``intel_transformer_engine``
#:   ``te.Linear`` on device "hpu") under delayed scaling only: the launch passes --fp8-interval, --fp8-margin,
#:   --fp8-amax-compute-algo max, --fp8-amax-history-len, --fp8-format hybrid and no recipe (core_r0.9.0 predates
#:   --fp8-recipe: NVIDIA Megatron-LM CHANGELOG, Core 0.12.0 "Add FP8 recipe selection to arguments"). Its weights
#:   stay 16-bit with TE's cached FP8 copy (--cache-fp8-weight; no --fp8-param-gather in the launch): fp8_weight_bytes
#:   None. Its default --fp8-coverage "mlp_row_parallel=False attention=True" keeps the MLP's down projection 16-bit:
#:   not priced (every linear is priced FP8)
#: * no TP communication overlap: ``IntelTELinear`` takes ``tp_comm_buffer_name`` and passes no userbuffers option
#:   to Intel TE (TE's userbuffers are CUDA code), so tp_overlaps ("none",); nor TE's async dgrad / input
#:   all-gather overlap (tp_bwd_async off: not established for Intel TE, priced exposed as the legacy stacks)
#: * the norm before a column-parallel linear is a module of its own: ``IntelTELayerNormColumnParallelLinear.forward``
#:   runs ``self.norm(x)`` then ``self.linear(norm_out)`` (fused_norm_linear off)
#: * attention is Gaudi's FusedSDPA (--use-fused-sdpa 1, --use-fast-softmax 1 in the launch): the accelerator's
#:   attention prior (attn_kernel "prior", not cuDNN's); no per-example (cu_seqlens) masking path is known: doc_masking off
#: * data parallelism: --use-distributed-optimizer (ZeRO-1, the launch's default) and no ZeRO-2/3 path: no
#:   --use-torch-fsdp2, no Megatron-FSDP (custom FSDP first named in the CHANGELOG under 0.12.0) in its arguments.py
#:   (has_zero3 off, has_megatron_fsdp off); the launch passes neither --overlap-grad-reduce nor
#:   --overlap-param-gather (both off by default; arguments.py "If set, overlap DDP grad reduce"): off here, as options
#: * recompute: --recompute-granularity full (uniform, --recompute-num-layers) or selective (the core attention:
#:   core_r0.9.0 has no --recompute-modules list); its arguments.py has no --cpu-offloading or --optimizer-cpu-offload
#:   (offloads ()), and
#:   the 0.10+ flags the Megatron-Core options stand for (CUDA graphs, --pipeline-model-parallel-layout, the
#:   precision-aware optimizer, --first-last-layers-bf16, DeepEP / HybridEP dispatchers: its
#:   --moe-token-dispatcher-type takes allgather | alltoall | alltoall_seq) are absent: has_cuda_graphs off
#: * TP, SP (--sequence-parallel), PP (--pipeline-model-parallel-size, interleaved with
#:   --num-layers-per-virtual-pipeline-stage), CP (--context-parallel-size, no --cp-comm-type: the upstream p2p ring)
#:   and EP as upstream
STACKS["megatron-core-gaudi"] = replace(
    STACKS["megatron-core"], name="megatron-core-gaudi", tp_overlaps=("none",), tp_overlap="none", tp_bwd_async=False,
    fp8_recipe="delayed", fp8_weight_bytes=None, fp8_param_gather=False, fused_norm_linear=False, attn_kernel="prior",
    doc_masking=False, has_zero3=False, has_megatron_fsdp=False, overlap_grad_reduce=False, overlap_param_gather=False,
    module_recompute=False, offloads=(), optimizer_offload_zero=0, moe_dispatchers=("alltoall",),
    has_moe_a2a_overlap=False, has_cuda_graphs=False, cp_comm_types=(),
    # Intel's TE (intel_transformer_engine.py) runs delayed scaling; its quantisers are not TE's current-scaling ones,
    # its amax reduction runs over HCCL, whose latency NCCL's tuning model does not price
    te_tp_linears=False, te_amax_reduction="",
    # nor is what Intel's TE sends over HCCL established: its gathers stay priced 16-bit
    quantised_tp_gathers=(),
    # core_r0.9.0 has the native fused loss (megatron/core/fusions/fused_cross_entropy.py) but no
    # --cross-entropy-fusion-impl (TE's kernel came to Megatron-Core later) and Intel's TE has no such kernel
    ce_fusions=("none", "native"),
    fork="Intel's fork HabanaAI/Megatron-LM (Megatron-Core core_r0.9.0, Intel Transformer Engine, FusedSDPA)",
    sources="HabanaAI/Megatron-LM @004966d2 (Intel's Gaudi fork of Megatron-LM core_r0.9.0): "
            "megatron/core/extensions/intel_transformer_engine.py, megatron/training/arguments.py, "
            "examples/llama/pretrain_llama.sh (TP, PP, SP, CP, distributed optimizer; fp8 = Intel TE delayed "
            "scaling; no TP comm overlap, no FSDP)")

#: The stacks for the accelerators that run no CUDA/ROCm code: Google TPUs (JAX / MaxText) and AWS Trainium
#: (NeuronX Distributed). Both compile the whole training step into one XLA program that the host launches once
#: per step (``jax.jit`` of MaxText's train_step; torch-neuronx's lazy tensors traced into one graph compiled by
#: neuronx-cc), so no host op is dispatched per layer (``layer_host_ops`` = ``head_ops`` = ``tp_ops`` = 0) and the
#: elementwise chains are fused into their producers (``compile``). What is *not* known from a source is set to
#: the conservative side and said so: TP collectives exposed (``tp_overlap`` none), ``kernels_layer`` 12 (a fused
#: layer's GEMMs, attention and a few fusions, as megatron-core's count: not counted from an XLA dump), the
#: attention kernel at the accelerator's prior (``attn_kernel`` prior: no measured Splash / NKI flash attention
#: fraction). The efficiency priors of these chips are the generic ones, unmeasured (planner.hardware.efficiency
#: ``UNMEASURED_PLATFORMS``), and every output says so.
STACKS["maxtext"] = Stack(
    "maxtext", platforms=("tpu",), has_compile=False, has_reshard=False, layer_host_ops=0.0, head_ops=0.0, tp_ops=0.0, kernels_layer=12.0, compile=True,
    has_remat_policy=True, casts_weights_per_use=True, moments_like_params=True, scan_gathers=True,
    doc_masking=True, moe_grouped_gemm=True, loss="torch_ce", loss_compiles=True, cp_exchange="allgather",
    tp_overlap="none", overlap_grad_reduce=True, overlap_param_gather=True, reshard_after_forward=True, offloads=(),
    sources="AI-Hypercomputer/maxtext (JAX): the train step is one jax.jit program; data parallelism is the mesh's "
            "'data' axis (replicated, ZeRO-0), 'fsdp' axis (parameters, gradients and optimizer state sharded alike: "
            "ZeRO-3) or shard_optimizer_over_data ('Enable ZeRO-1 optimizer sharding over the data axis', "
            "configs/types.py), no ZeRO-2; FSDP all-gathers / reduce-scatters overlapped by XLA's latency-hiding "
            "scheduler (configs/tpu/v4/22b.sh LIBTPU_INIT_ARGS --xla_enable_async_all_gather=true; maxtext issue "
            "#1005 'good overlap with FSDP'); attention=flash on TPU is the Pallas splash kernel, packed rows masked "
            "per example by segment ids; MoE experts as megablox grouped matmuls. Modelled on TPU only (MaxText on "
            "GPUs runs cuDNN/TE attention: not this entry)")
STACKS["neuronx-distributed"] = Stack(
    "neuronx-distributed", platforms=("neuron",), has_compile=False, has_reshard=False, has_param_gather=False, layer_host_ops=0.0, head_ops=0.0, tp_ops=0.0, kernels_layer=12.0,
    compile=True, loss="megatron_ce", tp_overlap="none", overlap_grad_reduce=False, overlap_param_gather=False,
    reshard_after_forward=True, offloads=(),
    # its BERT is transformers' BertForPreTraining with NxD's parallel attention linears swapped in, the labels
    # full-length -100 tensors: heads on every position (stack_rules nxd-head-positions; QA 106, taken before)
    head_on_masked_positions=False,
    sources="aws-neuron/neuronx-distributed (NxD Core / NxD Training, torch-neuronx): 'we support 3D parallelism: "
            "Tensor-Parallelism, Pipeline-Parallelism and Data-Parallelism. We also support Zero1 optimizer to shard "
            "the optimizer weights. To support tensor-parallelism on Neuron, we adopted the Apex Library built for "
            "CUDA devices' (Distributed Strategies APIs, awsdocs-neuron libraries/neuronx-distributed/api_guide, "
            "read 2026-12-01): ZeRO-0/1 only; Megatron-style column/row-parallel linears with sequence parallelism "
            "and parallel cross-entropy (GPT-NeoX 20B tutorial); gradient reduction at the step's end (no "
            "overlap assumed), selective activation checkpointing of the attention core (Korthikanti et al.)")
assert set(FRAMEWORK.names) <= set(STACKS)
assert all(not st.te_amax_reduction or st.te_amax_reduction in TE_AMAX_REDUCTIONS for st in STACKS.values())

#: Which platforms (planner.hardware.options ``PLATFORMS``) each stack's code runs on, and the source. Transformer
#: Engine, NCCL, cuDNN / FlashAttention kernels and torch.compile's Triton kernels are CUDA code with ROCm ports
#: (ROCm/TransformerEngine: 'enables Transformer Engine (TE) on ROCm ... FP8 ... on MI300', fused attention via
#: AOTriton/CK, TP/SP/CP supported; RCCL for NCCL; PyTorch ROCm builds); none of it runs on a TPU or on Trainium,
#: whose only code path is XLA. AMD's ROCm docs ("Use ROCm for AI: Training", rocm.docs.amd.com 6.4-7.1, read
#: 2026-12-01) list "Train a model with Primus and Megatron-Core/Megatron-LM", "Primus and PyTorch" (torchtitan
#: backend), "JAX MaxText", "LLM Foundry", and "Stanford Megatron-LM compatibility" (the legacy code base); Hugging
#: Face transformers runs on MI300 ("Hugging Face on AMD Instinct MI300 GPU", huggingface.co/blog, 2024-05-21);
#: DeepSpeed builds for ROCm (its op builders' HIP path). Intel Gaudi runs forks: HabanaAI/Megatron-LM (its own entry,
#: ``megatron-core-gaudi``: ``PORTS``), HabanaAI/Megatron-DeepSpeed, HabanaAI/DeepSpeed, and the HF Trainer as
#: optimum-habana's GaudiTrainer (on these three the planner prices the stack's CUDA-era behaviour: a caveat, not a
#: measured port). Not found for a platform: not
#: listed (torchtitan, llm-foundry and metaseq on Gaudi; metaseq, DeepLearningExamples and Megatron-DeepSpeed on ROCm).
RUNS_ON = {
    "megatron-core": ("cuda", "rocm"), "megatron-core-gaudi": ("gaudi",), "nemo": ("cuda",), "megatron-bridge": ("cuda",), "nemo-automodel": ("cuda",),
    "megatron-lm": ("cuda", "rocm"), "megatron": ("cuda", "rocm"), "megatron-deepspeed": ("cuda", "gaudi"),
    "torchtitan": ("cuda", "rocm"), "deepspeed": ("cuda", "rocm", "gaudi"), "hf-trainer": ("cuda", "rocm", "gaudi"),
    "dle-convnets": ("cuda",), "pytorch-ddp": ("cuda", "rocm"), "llm-foundry": ("cuda", "rocm"), "metaseq": ("cuda",), "fsdp": ("cuda", "rocm"),
    "maxtext": ("tpu",), "neuronx-distributed": ("neuron",), "dle-bert": ("cuda",),
}
for _n, _st in STACKS.items():
    STACKS[_n] = replace(_st, platforms=RUNS_ON[_n])
assert set(RUNS_ON) == set(STACKS)

#: (stack, platform) -> the registry entry that stack's name means there: the vendor's fork of its code, whose
#: options are the fork's (its entry's sources). A job naming ``megatron-core`` on Intel Gaudi runs Intel's fork
#: (``megatron-core-gaudi``): estimate times it and recommend searches only the options it has; an option it lacks
#: is refused in one line (``check_option``).
PORTS = {("megatron-core", "gaudi"): "megatron-core-gaudi"}
assert all(p in RUNS_ON[f] and p not in RUNS_ON[n] for (n, p), f in PORTS.items())


def port_of(name: str, platform: str | None) -> str:
    """The entry stack ``name`` runs as on ``platform`` (``PORTS``): its vendor's fork there, else itself."""
    return PORTS.get((name, platform), name)


def stacks_for_platform(platform: str | None, names=None) -> tuple[str, ...]:
    """The registry's stacks (of ``names``, default all current ones in ``FRAMEWORK``) that run on ``platform``."""
    return tuple(n for n in (names or FRAMEWORK.names) if platform is None or platform in RUNS_ON.get(n, ()))


def check_platform(stack: "Stack | str", gpu, field: str = "training.framework") -> None:
    """Refuse ``stack`` on accelerator ``gpu`` (a catalog GPU) when its code does not run on the GPU's platform
    (``RUNS_ON``): one line naming the stacks that do. An accelerator without a known platform passes."""
    from planner.hardware.platform import PLATFORMS, platform_of

    name = getattr(stack, "name", stack)
    plat = platform_of(gpu)
    if plat is None or plat in RUNS_ON.get(name, (plat,)):
        return
    ok = stacks_for_platform(plat)
    runs = ", ".join(PLATFORMS[p] for p in RUNS_ON[name])
    # fitted (``fit_message``): the hint gives way before the list of stacks, which the cap cut in its middle
    # ("hf-trainer, …le-convnets, dle-bert" on a GPU, until qa58)
    raise InputError(field, fit_message(f"{name} runs on {runs}, not on {gpu.name} ({PLATFORMS[plat]}); stacks for it: "
                                        f"{', '.join(ok) or 'none in the registry'} (or leave training.framework out "
                                        "for its default)"))


def stacks_where(has) -> str:
    """The registry's stacks for which ``has(stack)`` holds, as a list for a message ("runs on ...")."""
    return ", ".join(n for n, st in STACKS.items() if st is not None and has(st))


def resolve(name: str | Stack | None = None, **options) -> Stack:
    """The registry entry ``name`` (default ``defaults.FRAMEWORK``) with ``options`` applied."""
    if isinstance(name, Stack):
        return name.with_options(**options) if options else name
    name = name or D.FRAMEWORK
    if name not in STACKS:
        raise InputError("training.framework", f"unknown stack {name!r}; known: {', '.join(FRAMEWORK)}")
    return STACKS[name].with_options(**options) if options else STACKS[name]


def from_training(t, name: str | Stack | None = None, model=None) -> Stack:
    """The stack a ``TrainingSpec`` names (``training.framework``), or the default; with ``model``, as its code runs
    that model (``Stack.for_model``: AutoModel's dense parallelizer)."""
    return _from_training(t, name).for_model(model)


def _from_training(t, name: str | Stack | None = None) -> Stack:
    spec = getattr(t, "framework", None)
    if name is not None:
        return _with_fsdp_version(stack_for(resolve(name), t), t)
    if spec is not None and spec.name == AUTO:  # a search over stacks (planner.search.space.stack_groups)
        raise InputError("training.framework", "auto leaves the stack to planner recommend, which searches "
                         f"{', '.join(D.AUTO_FRAMEWORKS)}; estimate and simulate time one stack: name it (or leave "
                         "training.framework out for the default)")
    if spec is not None and spec.fp8_recipe == RECIPE_AUTO:  # a search over recipes (planner.search.space)
        raise InputError("training.framework.fp8_recipe", recipe_auto_refusal(spec.name))
    if spec is None:  # the default stack, or the one the training mode or the optimizer needs
        st = resolve(default_stack_name(t))
    else:
        st = resolve(spec.name, **{k: getattr(spec, k) for k in OPTIONS if getattr(spec, k, None) is not None})
    recompute_modules(t, st)  # refuse a module list the stack cannot run before anything is timed
    # an optimizer the stack does not implement, or runs with other options (Muon: planner.model.optimizers)
    return _with_fsdp_version(stack_for(st, t), t)


def _resolve_fsdp_options(st: Stack, opts: dict) -> Stack:
    """``st`` after ``with_options`` set ``opts`` on it: a job's or a searched ``fsdp_version`` (planner.search.space
    ``stack_variants``) with the version's mechanisms (``_with_fsdp_version``, as ``from_training`` sets them), so
    FSDP1 / FSDP2 is priced whole, not only named; and ``defer_fsdp_grad_sync`` (the Trainer's ``sync_each_batch``
    negated) re-resolved on a stack whose version is already, keeping whether the job left the version out."""
    if not st.fsdp_versions:
        return st
    if "defer_fsdp_grad_sync" in opts:
        st = replace(st, fsdp1_no_sync=False)  # (the option, not an earlier version's resolution, decides)
    if opts.get("fsdp_version") is not None:
        return _with_fsdp_version(st, None)
    if "defer_fsdp_grad_sync" in opts and st.fsdp_version is not None:
        return replace(_with_fsdp_version(st, None), fsdp_version_unset=st.fsdp_version_unset)
    return st


def _with_fsdp_version(st: Stack, t) -> Stack:
    """``st`` with the FSDP version job ``t`` runs (planner.model.finetune ``fsdp_version``: refused where it cannot
    run), so the stack line names it; unchanged on a stack without accelerate's FSDP. Version 2 is accelerate's
    ``fsdp2_prepare_model`` -- torch ``fully_shard`` over the fp32 model with a bf16 ``MixedPrecisionPolicy`` -- so
    the stack is an FSDP2 one (``fsdp2_dp``: no 16-bit shard beside the fp32 one, the units' unsharded gradient
    and reduce-scatter input, the root unit ``fsdp2_root`` gathered, ZeRO-2 timed as ZeRO-3 without reshard after
    forward); until fsdp2hf51 only the LoRA block-input cast (``finetune.gathered_by_fsdp2``) read it.

    The Trainer's gradient accumulation (``defer_fsdp_grad_sync``, the job's option: accelerate's ``sync_each_batch``
    negated) becomes ``fsdp1_no_sync`` under version 1 and the FSDP2 deferred sync under version 2: transformers
    trainer.py ``_run_epoch`` enters ``accelerator.no_sync(model)`` for every micro-batch of a step but the last
    unless ``gradient_state.plugin_kwargs["sync_each_batch"]`` (``GradientAccumulationPlugin``, default False), and
    accelerate's ``no_sync`` calls ``model.set_requires_gradient_sync(False)`` on an FSDP2 model since PR #3762
    (merged 2025-09-06, releases from 1.11.0; before it ``getattr(model, "no_sync", nullcontext)`` found nothing on an
    ``FSDPModule`` and FSDP2 reduce-scattered every micro-batch). Measured on torch 2.13 (tests/make_fsdp2_nosync_truth
    .py): no reduce-scatter in the non-syncing backwards, the whole model's unsharded gradients held in the reduce
    dtype (bf16) between them, one reduce-scatter per unit in the last. Until hffsdp56 FSDP2 under the Trainer was
    priced as syncing every micro-batch."""
    from planner.model.finetune import fsdp_version  # (at call time: finetune is imported lazily here)

    if not st.fsdp_versions:
        return st
    version = fsdp_version(st)
    # the Trainer's loop skips the gradient sync of every micro-batch but a step's last unless ``sync_each_batch``
    # (``defer_fsdp_grad_sync`` off): FSDP1's ``no_sync`` or, under FSDP2, ``set_requires_gradient_sync(False)``
    defer = st.defer_fsdp_grad_sync or st.fsdp1_no_sync  # (either version's resolution of it: idempotent)
    return replace(st, fsdp_version=version, fsdp2_dp=version == 2, fsdp_version_unset=st.fsdp_version is None,
                   fsdp1_no_sync=version == 1 and defer, defer_fsdp_grad_sync=version == 2 and defer)


#: ``training.framework.fp8_recipe: auto``: ``recommend`` tries each recipe the stack's code offers on each GPU
#: (planner.search.space ``recipe_choices``); ``estimate`` and ``simulate`` time one recipe and refuse it, as they
#: refuse ``training.framework: auto``
RECIPE_AUTO = AUTO  # (planner.vocab: one more name of FP8_RECIPE_CHOICE, folded as the recipes are)


def recipe_auto_refusal(name: str) -> str:
    """Why a one-plan command refuses ``fp8_recipe: auto`` on stack ``name`` (one line, the recipes it would try)."""
    st = STACKS.get(name)
    offered = (", ".join(fp8_recipes(st)) or "none: no fp8 path") if st is not None else "each stack's"
    default = f"{name}'s default, {st.fp8_recipe}" if st is not None else "the stack's default"
    return (f"auto leaves the recipe to planner recommend, which tries those {name} offers ({offered}); estimate and "
            f"simulate time one recipe: name it (or leave fp8_recipe out for {default})")


#: what ``recompute: selective`` re-runs when the job names no list (TransformerConfig: None -> ["core_attn"])
DEFAULT_RECOMPUTE_MODULES = ("core_attn",)


def recompute_modules(t, stack: Stack, model=None, precision: str | None = None) -> tuple[str, ...]:
    """The modules ``recompute: selective`` re-runs for job ``t`` on ``stack``: the job's
    ``training.recompute_modules`` (Megatron-Core stacks only) or the attention core. Refuses what
    Megatron-Core's TransformerConfig refuses (transformer_config.py 0.16.1 l. 1213-1252): moe_act
    without grouped-GEMM experts, mla_up_proj without MLA, moe_act/layernorm under FP8 delayed
    scaling; and modules for a layer the model does not have (MoE, shared experts)."""
    mods = getattr(t, "recompute_modules", None)
    if mods is None:
        return DEFAULT_RECOMPUTE_MODULES
    field = "training.recompute_modules"
    if not getattr(stack, "module_recompute", False):
        ok = stacks_where(lambda st: st.module_recompute)
        raise InputError(field, f"Megatron-Core's per-module recompute runs on {ok}, not {getattr(stack, 'name', stack)}")
    if "moe_act" in mods and not stack.moe_grouped_gemm:
        raise InputError(field, f"moe_act needs grouped-GEMM experts, which {stack.name} does not run")
    if (precision or getattr(t, "precision", None)) == "fp8" and stack.fp8_recipe == "delayed" \
            and {"moe_act", "layernorm"} & set(mods):
        raise InputError(field, "moe_act and layernorm recompute do not run under FP8 delayed scaling")
    if model is not None:
        need = {"mla_up_proj": (model.mla is not None, "multi-head latent attention (model.mla)"),
                "moe": (model.moe is not None, "MoE layers"), "moe_act": (model.moe is not None, "MoE layers"),
                "shared_experts": (model.moe is not None and bool(model.moe.shared_experts), "shared experts")}
        for mod in mods:
            if not need.get(mod, (True, ""))[0]:
                raise InputError(field, f"{mod} recomputes {need[mod][1]}, which model {model.name or ''} has none of")
    return tuple(dict.fromkeys(mods))


def recompute_split(t, stack: Stack, model=None) -> tuple[str | None, int | None]:
    """The job's partial full recompute on ``stack``: (``training.recompute_method``, ``recompute_num_layers``),
    (None, None) when it sets neither (every layer checkpointed on its own). A number without a method is
    "block" (what Megatron-Bridge recipes set with it); a method without a number leaves N open (None) for
    ``recommend`` to choose. Refuses a stack without ``Stack.partial_recompute`` and a model without transformer
    layers. N is not checked against a stage's layers: Megatron-Core takes any N >= 1 (TransformerConfig only
    requires it set; ``_checkpointed_forward``'s block loop checkpoints every layer below N, its uniform loop
    stops at the chunk's last layer), so N above a stage's layers means every layer
    (planner.model.pipeline.recomputed_fraction)."""
    method, n = getattr(t, "recompute_method", None), getattr(t, "recompute_num_layers", None)
    if method is None and n is None:
        return None, None
    field = "training.recompute_num_layers" if n is not None else "training.recompute_method"
    if not getattr(stack, "partial_recompute", False):
        ok = stacks_where(lambda st: st.partial_recompute)
        raise InputError(field, f"partial full recompute (Megatron --recompute-method/--recompute-num-layers) runs on "
                                f"{ok}, not {getattr(stack, 'name', stack)}")
    if model is not None and not model.is_transformer:
        raise InputError(field, "partial full recompute splits transformer layers; this model has none")
    return method or "block", n


#: the options ``recommend`` searches when the job leaves them open, and why only these: each
#: trades memory for time (Megatron-FSDP: sharded gradients/parameters for collectives every
#: micro-batch), so which value wins depends on the layout (planner.search.space
#: ``stack_variants``). The others are not searched: compile, TP overlap and overlapped
#: reduce/gather are pure speed-ups a tuned stack turns on (the registry default); the fp8
#: recipe is a numerics choice the planner cannot judge (delayed scaling is fastest but not the
#: recipes' recommended default), so it is searched only where the job asks (``fp8_recipe: auto``,
#: ``RECIPE_AUTO``: planner.search.space ``recipe_choices``), ranked on time and price alone; the selective-recompute variant is fixed by the stack's code
#: and the activation model does not tell the variants' memory apart. The MoE token dispatcher (moedisp47): DeepEP /
#: HybridEP send a token once per destination node where the all-to-all sends it once per expert, for their buffers'
#: memory and only on the GPUs and fabrics their libraries run on (planner.model.moe ``DISPATCHER_NEEDS``): which wins
#: depends on the layout and the hardware; until moedisp47 it stayed at the stack's all-to-all unless the job named
#: one (DeepSeek-V3 on B200 at EP 64: 7.9% MFU, 12.3% with DeepEP, QA 81). The combined-1F1B all-to-all overlap
#: (``moe_a2a_overlap``, moedisp47b): hides a micro-batch's dispatch / combine under another's compute where Megatron
#: runs it (EP > 1, PP 1 or interleaved, no full recompute, one MTP layer at PP > 1: stack_rules ``a2a-overlap-*``),
#: for a second micro-batch's activations in flight; tried with the dispatchers on the best layouts. The loops'
#: deferred FSDP gradient sync (``defer_fsdp_grad_sync``: the HF Trainer's, rec56; NeMo AutoModel's, rec57) and
#: AutoModel's loss class (``loss_fn``: FusedLinearCrossEntropy holds no logits, re-runs the head GEMM; rec57) are
#: fallbacks as the offloads are; so are (rec58) Megatron-DeepSpeed's DeepSpeed checkpointing (``partition_activations``,
#: ``cpu_checkpointing``: the checkpointed inputs split over TP or kept on the host), MaxText's loss tiles
#: (``num_vocab_tiling``, a chain of counts) and Megatron-Core's offloaded layer count (``activation_offload_layers``:
#: a quarter, a half, three quarters of the layers before all but the last, a chain inside the offload's). Every other
#: option's reason is ``UNSEARCHED``'s.
def megatron_fsdp_low_zero(zero: int) -> str:
    """Why ``megatron_fsdp: true`` at ZeRO below 2 is refused (``estimate`` and ``recommend`` alike): Megatron-FSDP's
    strategies are optim_grads (ZeRO-2) and optim_grads_params (ZeRO-3); below them it changes nothing."""
    return (f"Megatron-FSDP shards gradients (ZeRO-2) or gradients and parameters (ZeRO-3); at parallel.zero {zero} it "
            "changes nothing: set parallel.zero to 2 or 3, or leave it out")


SEARCHED = ("optimizer_offload", "activation_offload", "param_offload", "reshard_after_forward", "megatron_fsdp",
            "pp_split", "fused_cross_entropy", "cp_comm_type", "moe_dispatcher", "moe_a2a_overlap", "fsdp_version",
            "pp_pass_microbatches", "defer_fsdp_grad_sync", "loss_fn", "partition_activations", "cpu_checkpointing",
            "num_vocab_tiling", "activation_offload_layers")
#: the ``SEARCHED`` options ``recommend`` tries on some of the stacks that hold them only (planner.search.space
#: ``stack_variants``; the app's controls read it too, planner.interactive). None now: rec56 searched
#: ``defer_fsdp_grad_sync`` on the HF Trainer's accelerate FSDP only (``sync_each_batch``); rec57 searches NeMo
#: AutoModel's option of the same name too (``FSDP2Config.defer_fsdp_grad_sync``, the loop's ``get_sync_ctx``: its own
#: 70B benchmark config sets it False where the deferred gradients do not fit, "Must be False with GA>1")
SEARCHED_ON: dict = {}


#: why ``recommend`` leaves each other stack option at the job's value or the stack's default (rec57's audit: every
#: ``OPTIONS`` entry is in ``SEARCHED`` or here; tests/test_rec57.py). Grouped by reason, one reason an option
_NUMERICS = ("a numerics choice the planner cannot judge (the loss curve, not the step, decides it): the job's or the "
             "stack's own")
_SPEED_UP = "a speed-up the stack's tuned default runs (priced no bigger in memory): searched, it would always be on"
_DOMINATED = ("its default is no slower and no bigger in the model: the other value describes an older or other "
              "code's run, set to price that run")
_CODE = "a fact of the code or launch that runs (its version, a fork's plan), not a choice the job leaves to the search"
_HOST = "a fact of the node (its CUDA runtime, its NVMe drives), read from the catalog or the job"
UNSEARCHED = {
    **{k: _SPEED_UP for k in ("compile", "tp_overlap", "overlap_grad_reduce", "overlap_param_gather",
                              "moe_fused_mlp", "moe_shared_expert_overlap", "recompute_early_stop", "channels_last")},
    **{k: _NUMERICS for k in ("mixed_precision", "lp_bf16_layers", "lp_bf16_first_layers",
                              "first_last_layers_bf16", "lp_bf16_mtp", "communication_data_type", "ce_fp32_upcast",
                              "precision_aware_optimizer", "exp_avg_dtype", "exp_avg_sq_dtype", "main_params_dtype")},
    **{k: _DOMINATED for k in ("loss_parallel", "gradient_accumulation_fusion", "fp8_param_gather",
                               "experts_implementation")},
    **{k: _CODE for k in ("fused_qkv", "tp_gather_per_linear", "tp_embedding_replicated", "loss_eager_16bit",
                          "selective", "use_reentrant")},
    **{k: _HOST for k in ("nvme_stripe", "nvme_gbps", "cuda_module_loading")},
    "align_param_gather": "Megatron-Core's default (on), as its recipes launch; off prices a run that sets "
                          "--no-align-param-gather or a NeMo 1.x run, a schedule choice not measured both ways",
    "overlap_param_gather_with_optimizer_step": "no memory cost in the model, only a gather hidden under the step: "
                                                "searched, it would always be on; off as Megatron-LM's CLI and "
                                                "Megatron-Bridge's CommOverlapConfig launch, on where the job says "
                                                "(NeMo 2 / Bridge performance scripts)",
    "attn_implementation": "the kernel transformers picks (sdpa) unless the job names one: flash_attention_2 / 3 "
                           "need their kernel package installed, a fact of the environment",
    "fsdp_float8_all_gather": "a numerics choice (the weights travel and run at the step's tensorwise scale, "
                              "precomputed after the optimizer step): off as torchtitan's default; on where the job "
                              "says",
    "fp8_recipe": "a numerics choice (delayed scaling is fastest, not the recipes' default): searched only where the "
                  "job sets fp8_recipe: auto (RECIPE_AUTO, planner.search.space recipe_choices)",
    "offload_device": "searched apart, as a twin of each CPU-offload variant where host memory does not hold it "
                      "(planner.search.space _with_nvme_twins, QA 93)",
    "cross_entropy_fusion": "te (Transformer Engine's CrossEntropyFunction: the gradient written over the 16-bit "
                            "logits) is priced below native in memory and 0.1% in time, so at equal fit the recipes' "
                            "kernel stays; as a fallback on the layouts native does not fit (rec58's trial) it fits so "
                            "many logit-bound layouts, each then priced, that DeepSeek-V3's example search evaluated "
                            "8.9M -> 17.8M rows (CPU 10.9 -> 21.3 s) and Llama-3-70B's CPU 1.32 -> 2.12 s for the "
                            "same answers. With rec59's fit screens (the nearest evaluated memory, recommend._chance, "
                            "and in its trial rank 0's and the middle ranks' totals beside the last stage's logits) "
                            "its rows fell to 10.1M (7.2M without it), but its ~170 more memory and step-time calls "
                            "(a ~40 ms fixed cost each) still cost DeepSeek-V3's search 11.9 -> 17.0 CPU s: left "
                            "until a call's fixed cost is cut or the search can skip calls that cannot beat its best",
    "cuda_graph_impl": "a speed-up the recipes set per model; the graphs' static buffers are not priced, so searched "
                       "it would always be on (and full recompute refuses it)",
    "cuda_graph_scope": "with cuda_graph_impl, the recipes' per-model scope",
    "reduce_bucket_size": "the model prices the ZeRO reduce buckets' memory, not what a smaller bucket costs in time: "
                          "searched, it would always shrink",
    "ag_backward_pipelining": "the model prices the second gathered layer it holds, not the overlap it buys: "
                              "searched, it would always be off (its default)",
    "microbatch_group_size": "Megatron-Core's default (pp) is the schedule the recipes run; other groups only shift "
                             "the interleaved schedule's warm-up, a user's tuning",
    **{k: "an explicit pipeline split the job writes; the search tries the balanced split and the stack's own "
          "(pp_split)" for k in ("pp_layout", "pp_partition_method", "pp_first_stage_less_layers",
                                 "pp_last_stage_less_layers")},
    "fsdp_defer_sync": "AutoModel's MoE enable_fsdp_optimizations trades the other way (more memory held for fewer "
                       "collectives), so it is no fallback; tried everywhere it would double the MoE variants (left)",
    "remat_policy": "MaxText's policies other than full keep more on the chip or copy to the host to re-run less, so "
                    "each can win only where full fits and recompute none does not: a variant tried where its parent "
                    "fits, which the variant search (a variant tried where its parents do not fit) lacks (left, "
                    "rec58); the recipes set it per run",
    "remat_tensors": "with remat_policy: custom only",
    "ac_freq": "torchtitan's layer SAC n, read only where the job sets selective: layer: 1 checkpoints every layer, "
               "the full-recompute rows the search tries anyway; above the default 2 a rank keeps more layers whole, "
               "which can win only where 2 fits: a variant tried where its parent fits, which the variant search "
               "lacks (left, rec58)",
    "ce_chunk_size": "with loss_fn masked_ce_chunked only, which the job names with its chunk",
}
assert not set(UNSEARCHED) & set(SEARCHED) and set(UNSEARCHED) | set(SEARCHED) == set(OPTIONS), \
    sorted(set(OPTIONS) ^ (set(UNSEARCHED) | set(SEARCHED)))


def searched_on(stack: "Stack", option: str) -> bool:
    """Whether ``recommend`` searches ``option`` on ``stack`` where a job leaves it open (``SEARCHED``, ``SEARCHED_ON``)."""
    return option in SEARCHED and (option not in SEARCHED_ON or SEARCHED_ON[option](stack))


def open_options(t) -> tuple[str, ...]:
    """The stack options the job leaves unset (``training.framework`` absent, or the field null)."""
    spec = getattr(t, "framework", None)
    return tuple(k for k in OPTIONS if spec is None or getattr(spec, k, None) is None)


# ----------------------------------------------------------------------------------------- CUDA graphs
#: Megatron-Core's CUDA graphs (``Stack.cuda_graph_impl`` / ``cuda_graph_scope``), as megatron/training/arguments.py
#: ``validate_args`` ("# CUDA Graphs") checks them in the version whose ``--cuda-graph-scope`` takes a list (``nargs='+'``,
#: choices attn, mlp, moe, moe_router, moe_preprocess, mamba, full_iteration: the Megatron-Core 0.15/0.16 flags that
#: Megatron-Bridge's ``cuda_graph_impl`` / ``cuda_graph_scope`` pass on; read through the search index, file id
#: 253976787): ``local`` takes no scope (the whole layer, Megatron-Core's CudaGraphManager) or only ``full_iteration``
#: (one graph of the whole forward-backward, megatron/core/full_cuda_graph.py ``FullCudaGraphWrapper``);
#: ``transformer_engine`` (TE ``make_graphed_callables``) takes any of the others, never full_iteration, never both moe
#: and moe_router, moe_preprocess only with moe_router; with no scope it captures attn + mlp (dense), attn + moe (every
#: layer MoE) or all three. The model-dependent refusals are ``cuda_graph_parts``'. Graphs also refuse full
#: recompute ("recompute_granularity must not be full when CUDA Graphs are enabled"): a per-layout stack rule
#: (planner.model.stack_rules "cuda-graphs-full-recompute"), so the search drops those layouts.
#: Share of a Megatron-Core layer's forward host ops (``Stack.layer_host_ops``, 20) in its attention half, the rest in its
#: MLP half (the split ``cuda_graph_host_ops`` needs; TransformerLayer ``_forward_attention`` / ``_forward_mlp`` with
#: the TE spec): named ops linear_qkv, the view + split of the mixed QKV (2), RoPE on q and k (2), core attention,
#: linear_proj, bias-dropout-add = 8 against linear_fc1, the fused SwiGLU, linear_fc2, bias-dropout-add = 4; the
#: other 8 of the 20 (module calls, TE's own quantize / workspace ops around each linear) split by linears, 2 + 2:
#: 4 each. Attention (8 + 4) / 20 = 0.6
ATTN_OPS_SHARE = 0.6
CUDA_GRAPH_DEFAULT_SCOPE = {"local": ("attn", "mlp", "moe"), "transformer_engine": ("attn", "mlp", "moe")}


def _check_cuda_graphs(stack: "Stack", impl: str, scope: tuple) -> None:
    """Refuse what Megatron-Core refuses whatever the model (one-line errors; see ``CUDA_GRAPH_DEFAULT_SCOPE``)."""
    f = "training.framework.cuda_graph_impl"
    if impl not in CUDA_GRAPH_IMPL:
        raise InputError(f, f"{impl!r}; known: {', '.join(CUDA_GRAPH_IMPL)}")
    bad = [s for s in scope if s not in CUDA_GRAPH_SCOPE]
    if bad:
        raise InputError("training.framework.cuda_graph_scope", f"{', '.join(map(repr, bad))}; known: {', '.join(CUDA_GRAPH_SCOPE)}")
    if impl == "none":
        if scope:
            raise InputError("training.framework.cuda_graph_scope", "a CUDA-graph scope needs cuda_graph_impl local or transformer_engine")
        return
    if not stack.has_cuda_graphs:
        ok = stacks_where(lambda st: st.has_cuda_graphs)
        raise InputError(f, f"CUDA graphs as Megatron-Core captures them run on {ok}, not {stack.name}")
    f = "training.framework.cuda_graph_scope"
    if impl == "local" and scope not in ((), ("full_iteration",)):
        raise InputError(f, "cuda_graph_impl local takes no scope (whole layers) or only full_iteration; other scopes need transformer_engine")
    if impl == "transformer_engine":
        if "full_iteration" in scope:
            raise InputError(f, "full_iteration needs cuda_graph_impl local, not transformer_engine")
        if {"moe", "moe_router"} <= set(scope):
            raise InputError(f, "moe and moe_router cannot both be captured")
        if "moe_preprocess" in scope and "moe_router" not in scope:
            raise InputError(f, "moe_preprocess is captured only together with moe_router")


def cuda_graph_parts(stack: "Stack", model=None) -> frozenset:
    """The parts of each layer ``stack`` captures in CUDA graphs for ``model`` (a set of ``CUDA_GRAPH_SCOPE`` names;
    empty without graphs), refusing what Megatron-Core's validate_args refuses for the model (``CUDA_GRAPH_DEFAULT_SCOPE``):
    moe / moe_router on a model without MoE layers, mlp on one without dense layers, moe with the flex (DeepEP / HybridEP)
    dispatcher or with a dropless or unpadded all-to-all MoE ("moe cuda graph is only supported with drop-padding MoE":
    the dispatched row counts, hence the expert GEMM shapes, change every step), moe_preprocess with an unpadded capacity
    factor (its device-to-host copy and sync). Whole layers (local with no scope) take moe's rule for their MoE
    layers (Megatron-Core's later ``validate_moe_cuda_graph_support`` states it: an empty scope is "the whole MoE").
    ``full_iteration`` on a dropless MoE needs Megatron-Core's sync-free MoE: HybridEP with a per-rank receive capacity
    and paged stash (Megatron-Bridge PR #4249, ``set_full_iter_cg_configs``: ``moe_expert_rank_capacity_factor = 1.5``,
    ``moe_paged_stash = True``, with the hybridep backend), refused with any other dispatcher."""
    impl, scope = stack.cuda_graph_impl, tuple(stack.cuda_graph_scope)
    if impl == "none":
        return frozenset()
    if model is None:
        return frozenset(scope or CUDA_GRAPH_DEFAULT_SCOPE[impl])
    moe = model.moe
    # the layer kinds the model has (hybrid: its pattern's symbols; ssm.layer_shares): * attention, - dense MLP, E MoE,
    # M Mamba; with no scope each kind's part is captured (arguments.py fills the scope from the pattern the same way)
    has = {k: model.kind_layers(k) > 0 for k in HYBRID_LAYER}
    kind_part = {"*": "attn", "-": "mlp", "E": "moe", "M": "mamba"}
    parts = set(scope) if scope else {kind_part[k] for k, there in has.items() if there}
    f = "training.framework.cuda_graph_scope"
    name = model.name or ""
    if moe is None and parts & {"moe", "moe_router", "moe_preprocess"}:
        raise InputError(f, f"moe / moe_router graphs need MoE layers, which model {name} has none of")
    if not has["-"] and "mlp" in parts:
        raise InputError(f, f"mlp graphs capture dense layers, which model {name} has none of")
    if not has["M"] and "mamba" in parts:
        raise InputError(f, f"mamba graphs capture Mamba layers, which model {name} has none of")
    drop_pad = moe is not None and not moe.dropless and moe.pad_to_capacity
    if "moe" in parts and not (stack.moe_dispatcher == "alltoall" and drop_pad):
        why = (f"the {stack.moe_dispatcher} dispatcher" if stack.moe_dispatcher != "alltoall"
               else "a dropless or unpadded MoE")
        raise InputError(f, f"the whole MoE block is captured only with the all-to-all dispatcher and a padded capacity factor, not {why}")
    if ("moe_preprocess" in parts and stack.moe_dispatcher == "alltoall" and moe is not None and not moe.dropless
            and not moe.pad_to_capacity):
        raise InputError(f, "moe_preprocess is not captured with an unpadded capacity factor (its device-to-host sync)")
    if "full_iteration" in parts and moe is not None and moe.dropless and stack.moe_dispatcher != "hybridep":
        raise InputError(f, f"a full-iteration graph of a dropless MoE needs the sync-free HybridEP path, not {stack.moe_dispatcher}")
    return frozenset(parts)


def cuda_graph_host_ops(parts: frozenset, attn: Any, mlp: Any, moe_router: Any, moe_preprocess: Any, moe_rest: Any,
                        moe_share: Any, hybrid: dict | None = None, mamba: Any = None) -> Any:
    """Host-dispatched ops left per layer forward once ``parts`` (``cuda_graph_parts``) are captured: every op inside
    a captured part is replayed by the graph, which the host launches once (``cudaGraphLaunch``; TE's graphed callable
    replays one forward and one backward graph per call) instead of op by op. The captured parts of a layer are always
    one contiguous stretch (attn, then the pre-MLP norm, router, preprocess), so a layer with any part captured pays
    one launch. Ops per part: ``attn`` the attention half of the layer's ops (with its TP / CP ops), ``mlp`` the MLP
    half (a MoE layer's pre-MLP norm and residual around the MoE block), ``moe_router`` / ``moe_preprocess`` /
    ``moe_rest`` the MoE block's (planner.model.moe ``MOE_GRAPH_OPS``; moe_rest = dispatch, experts, combine, with
    TE's per-expert set-up and the eager expert ops). ``full_iteration`` leaves none. Without graphs: the sum.
    ``hybrid``: a hybrid model's block shares (planner.model.ssm ``layer_shares``), each layer one block of one kind
    with ``attn + mlp`` ops (half a transformer layer's; a Mamba block ``mamba`` where given, planner.model.ssm
    ``MAMBA_HOST_OPS``), captured whole by its part (attn, mlp, mamba; a MoE block by moe, or up to the router by
    moe_router) at one launch."""
    if "full_iteration" in parts:
        return 0.0 * (attn + moe_share)
    if hybrid is not None:
        block = attn + mlp
        ops = {"*": block, "-": block, "M": block if mamba is None else mamba}
        whole = sum(hybrid[k] * (1.0 if part in parts else ops[k]) for k, part in (("*", "attn"), ("-", "mlp"), ("M", "mamba")))
        if "moe" in parts:
            moe_block = 1.0
        elif "moe_router" in parts:
            moe_block = 1.0 + (0.0 if "moe_preprocess" in parts else moe_preprocess) + moe_rest
        else:
            moe_block = block + moe_router + moe_preprocess + moe_rest
        return whole + hybrid["E"] * moe_block
    a = 0.0 if "attn" in parts else attn
    dense = a + (0.0 if "mlp" in parts else mlp) + (1.0 if parts & {"attn", "mlp"} else 0.0)
    if "moe" in parts:
        sparse = a + 1.0
    else:
        router = "moe_router" in parts
        sparse = (a + (0.0 if router else mlp + moe_router) + (0.0 if router and "moe_preprocess" in parts else moe_preprocess)
                  + moe_rest + (1.0 if parts & {"attn", "moe_router"} else 0.0))
    return (1 - moe_share) * dense + moe_share * sparse


#: how each ``Stack.cp_kind`` moves K/V at CP > 1, as the stack line says it (``evaluate.cp_exchange_note``): the
#: exchange moves the step (hidden under the attention, or exposed); the Megatron-Core stacks let the job choose it
#: (``cp_comm_type``, the te_* entries), the others run their one
CP_EXCHANGE_WORDS = {
    "p2p": "K/V ring, one point-to-point hop a step overlapped with the attention (TE cp_comm_type p2p)",
    "allgather": "K/V all-gathered before the kernel, exposed (PyTorch context_parallel, rotate method allgather)",
    "a2a": "Ulysses all-to-alls of q, k, v and the output, exposed (DeepSpeed ALST / UlyssesSPAttentionHF)",
    "te_allgather": "K/V all-gathered before the kernel, dK/dV reduce-scattered, exposed (TE cp_comm_type all_gather)",
    "te_a2a": "Ulysses all-to-alls of q, k, v and the output, exposed (TE cp_comm_type a2a)",
    "te_a2a_p2p": "all-to-alls inside the NVLink domain, a K/V ring across it overlapped with the attention "
                  "(TE cp_comm_type a2a+p2p)",
}
