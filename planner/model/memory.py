"""Memory per GPU: model states, activations, logits and the rest, for the most loaded rank.

The activations and logits are planner.model.memory_activations' (``transformer_activations``; in this module until
split47b); this module prices the states, the runtime's reserve and the rank classes, and adds them up.

Model states (bytes per parameter), as data in ``PRECISION_CONVENTIONS`` and ``OPTIMIZER_STATE``:

* ZeRO (Rajbhandari et al. 2020, arXiv 1910.02054, §3 and Fig. 1): with 16-bit weights and
  gradients and Adam's K = 12 bytes (fp32 master + two fp32 moments), a replica holds
  2 + 2 + 12 = 16 bytes/param; ZeRO-1 shards the optimizer (4 + 12/N), ZeRO-2 also the gradients
  (2 + 14/N), ZeRO-3 everything (16/N). ``weights='megatron', grad_dtype='same'`` reproduces this
  exactly (tests/test_memory.py); Megatron's default keeps fp32 gradient buffers (main_grad),
  ``grad_dtype='fp32'``, giving 18 bytes/param (Megatron ``compute_weight_and_optimizer_memory``).
* DeepSpeed (``Stack.zero_states``): its optimizer wrappers hold other buffers than the paper's convention --
  ``BF16_Optimizer`` an fp32 gradient buffer of the whole model and a partitioned optimizer at ZeRO-0,
  ``FP16_Optimizer`` nothing partitioned, ZeRO-1 the 16-bit ``.grad`` whole, ZeRO-2/3 a 16-bit gradient
  partition and contiguous reduce buckets: ``zero_stage_states`` with the tables (and their sources) in
  planner.model.stacks ``ZERO_STATES``; over an fp32 module under its ``torch_autocast`` section (``weights: amp``) or under plain fp32
  the same ZeRO 1-3 wrappers in fp32, with a cloned fp32 master partition (``fp32_module_zero_rows``).
* PyTorch AMP (``weights='amp'``): fp32 weights and gradients, optimizer moments, and the 16-bit
  copies autocast makes of each weight and autograd keeps for backward (+2 bytes/param).
* FSDP FULL_SHARD = ZeRO-3, SHARD_GRAD_OP = ZeRO-2; ZeRO-3 also holds the gathered 16-bit weights
  of the layers in flight (the current one and one prefetched), each the rank's share of the largest layer: its
  TP slice and only its local experts (planner.model.memory_stages ``largest_unit_params``). Megatron-FSDP
  (``Stack.megatron_fsdp``:
  optim_grads = ZeRO-2, optim_grads_params = ZeRO-3, the same shards) holds a window of about 1e9
  elements of gathered weights and of unsharded gradient buckets instead (``mfsdp_buffer_elems``).
  FSDP2 over fp32 parameters (``Stack.fsdp2_dp``: torchtitan, NeMo AutoModel, hf-trainer's ``fsdp_version: 2``)
  keeps no 16-bit shard -- its sharded parameter is the fp32 master, cast to bf16 only as each all-gather's
  input -- and holds, at ZeRO-2 and
  ZeRO-3, the unsharded gradient and the reduce-scatter input of the units in backward
  (``fsdp2_reduce_buffer_bytes``). Until 2026-12-02 it counted a bf16 shard (2/N bytes a parameter) and no
  reduce buffers. At ZeRO-3 it also holds gathered what the stack leaves outside its per-block units
  (``Stack.fsdp2_root``, ``fsdp2_root_gather_params``: torchtitan's head unit, before 2025-07 its root unit;
  NeMo AutoModel's root unit on dense models, its head unit on MoE models; until 2026-12-02 AutoModel's was not
  counted: Llama-3-8B ZeRO-3 with reshard after forward, 1.96 GiB more).
* Sharding group: ZeRO shards over data-parallel x context-parallel ranks (Megatron's distributed
  optimizer group); expert weights over the expert-data-parallel group (dp*cp/ep). Under hybrid
  sharded data parallelism (HSDP, ``parallel.dp_shard`` < dp: FSDP2 on a 2-D (replicate, shard) mesh,
  DeepSpeed MiCS, Megatron-Core's ``--num-distributed-optimizer-instances``) the states are sharded
  over dp_shard x cp ranks only (``zero_bytes_per_param`` at n = dp_shard x cp) and replicated across
  the dp / dp_shard groups (``hsdp_groups``).

Pipeline stages (planner.model.memory_stages: each stage's parameters and micro-batches in flight): the model
states are each stage's own on the split it launches (``stage_split``): "first" the
heaviest rank before the last, the embedding on rank 0 only (until pp16mem38 ceil(L/pp) layers and the embedding,
which no rank of an uneven split holds: Llama-3.1-405B on PP16, 7 + 14 x 8 + 7, 2.1B parameters too many), the last
its own layers, the final norm, LM head (a second copy when tied and pp > 1; with MTP, untied, a copy of the word
embedding: ``mtp_embedding_copy``) and the logits/loss buffers. The activations are each rank's own: rank r holds its layers of the split --emit launches and the step time prices (planner.model.pipeline ``pipeline_split``, per
rank ``stage_layer_split``: even, else the fullest share ceil(L/pp) in the middle and the first and last the rest,
with VPP the ranks' sums of their chunks) for the micro-batches it has in flight —
under 1F1B min(pp - r, m), interleaved Megatron-Core's warm-up count (rank 0: pp (1 + (pp-1)/(pp*v)), Narayanan
et al. 2021 §2.2; Megatron's memory estimator), at most m, plus one model chunk under the MoE all-to-all overlap,
checked in tests/test_real_runs_fit.py (``inflight_microbatches``), held chunk by chunk where a rank's chunks differ
(memory_activations ``chunk_activations``: each chunk's own layers x the micro-batches Megatron-Core's order leaves on that chunk,
``pipeline.chunk_inflight``); GPipe all m — and "first" is the peak of the
ranks before the last (``stage_layer_microbatches``: rank 0 with the embedding's output, or rank 1). Until
2026-12-02 ceil(L/pp) layers x rank 0's count: Llama-3.1-405B's 126 layers on PP16, 128 layer-micro-batches where
rank 1's 8 x 15 = 120 is the peak. Both the first and the last stage are evaluated and the larger is reported.

``other``: CUDA context and allocator reserve, NCCL communicator buffers per process group in
use, the MoE token dispatcher's own buffers (DeepEP / HybridEP: ``moe_comm_buffers``, also reported alone as
``comm_buffers``), and a fragmentation allowance on the dynamic (activation) part -- each platform's own
(``RUNTIME_RESERVE``: ROCm, Gaudi and Trainium at CUDA's allowances, named for their runtimes in plan text; a TPU's
the HBM the XLA runtime withholds from the program, no NCCL buffers, no caching allocator).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from planner.layout import V_SPLIT, Candidates, in_blocks, split_vpp
from planner.hardware.cuda_runtime import EAGER_CONTEXT_BYTES
from planner.npfast import select
from planner.results import MEMORY_PARTS, RankMemory, RankTotal
from planner.spec.params import count_params
from planner.defaults import ADAPTER_BYTES, QLORA_OTHER_BYTES
from planner.model.finetune import (PARAM_BYTES, adapter_bytes_on, adapter_params, adapter_whole_params, base_weights,
                                    bitsandbytes_base, bitsandbytes_gather_bytes, bitsandbytes_layer_bytes,
                                    bnb_ignored_by_fsdp2, frozen_base, frozen_storage_bytes, fsdp_version, on_stack)
from planner.model import offload, optimizers
from planner.model.moe import (dispatcher_buffer_bytes, hf_ep_whole_params, hf_tp_plan,
                               per_dispatcher)
from planner.model.pipeline import split_runtime, uniform_groups
from planner.model.memory_stages import (STATE_KEY, key_stage_split, lp16_rank_params, pipeline_end_params,
                                         pp_accumulators_apart, split_blocks)
from planner.model.activations import loss_pool_free_bytes
from planner.model.memory_activations import (ActivationTerms, StateBytes, rows_of, layer_matrix_elems,
                                              pp_merge_outputs, sample_activations, stack_head_seq,
                                              transformer_activations)
from planner.model.stacks import KEPT_ACCUMULATED, KEPT_NONE, KEPT_PERSIST, from_training, fsdp_reduce_bytes
from planner.model.stack_kernels import FP8_PAYLOAD_BYTES, fp8_linear_weight_bytes, fp8_weights_as_stored, \
    fsdp_float8_gather_on, mfsdp_fp8_gather_bytes
from planner.spec import ModelSpec, TrainingSpec
from planner.vocab import MOE_DISPATCHER, RECOMPUTE


GiB = 2**30

#: bytes per parameter of the compute copies the weights column below holds beside the weights themselves: autocast's
#: 16-bit copy kept for backward (AMP) and the cached FP8 copy (fp8); a checkpoint writes neither
#: (``stored_weight_bytes``)
WEIGHT_COPY_BYTES = {("bf16", "amp"): 2, ("fp16", "amp"): 2, ("fp8", "amp"): 1, ("fp8", "megatron"): 1, ("fp8", "pure"): 1}
_C = WEIGHT_COPY_BYTES
# bytes per parameter: weights held on the GPU, gradients (accumulation buffer), master copy
PRECISION_CONVENTIONS = {
    #            weights, grads(fp32 buffer), grads(same dtype), master
    ("fp32", "amp"): (4, 4, 4, 0),
    ("fp32", "megatron"): (4, 4, 4, 0),
    ("fp32", "pure"): (4, 4, 4, 0),
    ("bf16", "amp"): (4 + _C["bf16", "amp"], 4, 4, 0),  # fp32 weights + autocast's 16-bit copy kept for backward
    ("bf16", "megatron"): (2, 4, 2, 4),
    ("bf16", "pure"): (2, 2, 2, 0),
    ("fp16", "amp"): (4 + _C["fp16", "amp"], 4, 4, 0),
    ("fp16", "megatron"): (2, 4, 2, 4),
    ("fp16", "pure"): (2, 2, 2, 0),
    # FP8: bf16 weights + fp32 master, plus the cached fp8 weight copy; a stack that stores its FP8
    # weights otherwise says so (Stack.fp8_weight_bytes: Megatron-Core's fp8_param_gather, torchao)
    ("fp8", "amp"): (4 + _C["fp8", "amp"], 4, 4, 0),
    ("fp8", "megatron"): (2 + _C["fp8", "megatron"], 4, 2, 4),
    ("fp8", "pure"): (2 + _C["fp8", "pure"], 2, 2, 0),
}

# optimizer state bytes per parameter, excluding any fp32 master copy (TM101; bitsandbytes docs)
OPTIMIZER_STATE = {
    "adamw": 8.0,  # two fp32 moments
    "adam": 8.0,
    "adam8bit": 2.0,  # two int8 moments (block-wise quantised; block scales are negligible)
    "lion": 4.0,  # one fp32 momentum
    "sgd": 0.0,
    "sgd_momentum": 4.0,
    "adafactor": None,  # factored second moment: rows + cols per matrix, see _adafactor_bytes
    # one fp32 momentum per hidden matrix; embeddings, head, norms and biases keep AdamW's 8
    # (planner.model.optimizers.state_bytes)
    "muon": 4.0,
}

# fp8 GEMMs still keep 16-bit activations; Transformer Engine keeps its linears' inputs in FP8
# (activations.layer_saved_tensors ``te_fp8``)
ACT_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 2}

#: today's CUDA context (lazy module loading: the kernels a run loads as it goes) + torch's cuBLAS / cuBLASLt workspaces
#: (planner.hardware.cuda_runtime ``CUDA_RUNTIME_FIGURES``); the allocator's reserve is FRAGMENTATION. An eager-loading
#: runtime's whole context replaces it (``RuntimeReserve.eager_context``)
CUDA_CONTEXT_BYTES = 0.75 * GiB


NCCL_BYTES_PER_GROUP = 0.25 * GiB  # communicator buffers per process group of size > 1
#: the caching allocator's reserve beyond the live bytes, as a share of the dynamic part (activations + logits, allocated
#: and freed every step; weights, gradients and optimizer states are allocated once): torch.cuda.max_memory_reserved
#: less max_memory_allocated. One figure for both allocator settings (alloc38, 2026-12-05; docs/accuracy_log.md "The
#: allocator's reserve"). Default segments: requests rounded to 512 B, 1-10 MiB ones served from 20 MiB segments, larger
#: ones rounded to 2 MiB, free blocks in different cudaMalloc'd segments never merge; ``expandable_segments:True``: one
#: growing segment per (pool, stream) mapped in 20 MiB pages whose free blocks merge, but live blocks still pin the holes
#: beside them and one stream's free pages do not serve another's (c10/cuda/CUDACachingAllocator.cpp; E. Yang, "When
#: does fragmentation occur in the CUDA caching allocator?", pytorch/devlogs 2026-06-01). No published max_allocated /
#: max_reserved pair of one large training run isolates either share; without it the measured max_reserved rows
#: (torchtitan, launched with expandable segments) come out further under (median 4.0 -> 7.5%): an assumption
FRAGMENTATION = 0.05


@dataclass(frozen=True)
class RuntimeReserve:
    """What a platform's runtime holds on each device beyond the job's own tensors: memory_per_gpu's ``other`` =
    ``context`` + ``per_group`` x process groups + the MoE dispatcher's buffers + ``fragmentation`` x the dynamic
    bytes. ``words``: what ``other`` stands for in plan text. ``withheld``: (catalog part, bytes) where the runtime
    reports less memory usable than the catalog's capacity and that shortfall is measured: it replaces ``context``
    on that part."""
    context: float
    per_group: float
    fragmentation: float
    words: str
    withheld: tuple = ()
    #: the context a runtime that loads every kernel module at start holds in place of ``context``, by
    #: ``Stack.cuda_module_loading`` (CUDA's: ``EAGER_CONTEXT_BYTES``; None where none is measured: ``context``)
    eager_context: float | None = None

    def context_on(self, part: str | None, module_loading: str = "lazy") -> float:
        """``context`` on catalog part ``part`` (its ``withheld`` figure where measured); ``eager_context`` in its place
        under ``module_loading`` "eager" where measured."""
        if module_loading == "eager" and self.eager_context is not None:
            return self.eager_context
        return dict(self.withheld).get(part, self.context)


GPU_RESERVE = RuntimeReserve(CUDA_CONTEXT_BYTES, NCCL_BYTES_PER_GROUP, FRAGMENTATION,
                             "the CUDA context, NCCL buffers and fragmentation", eager_context=EAGER_CONTEXT_BYTES)
#: the HBM JAX / XLA leaves a job on a TPU chip, per catalog part: the chip's capacity less ``bytes_limit``
#: (``jax.Device.memory_stats()``), the figure the XLA:TPU compiler fits a program's temporaries and arguments to
#: ("Ran out of memory in memory space hbm. Used X of <limit> hbm"; the rest is "reserved for XLA Runtime
#: internals", openxla/xla docs/errors/error_1000.md). v6e: ``gpu_memory_per_device: 33550237696`` (31.25 GiB of
#: 32; vllm-project/vllm#16211's log, the compile errors' "of 31.25G hbm"); v4: "Used 63.80G of 30.75G hbm ...
#: reserved 1.25G" (erfanzar/EasyDeL#166, TPU v4-32; jax-ml/jax#1491's ``bytes_limit: 33014415360``); v5e: "of
#: 15.75G hbm" in v5litepod compile errors; v5p: "of 95.74G hbm", above the catalog's 95 GiB, so nothing is
#: withheld from the catalog's figure
TPU_WITHHELD = (("TPU-v4", 32 * GiB - 33014415360), ("TPU-v5e", 16 * GiB - 15.75 * GiB), ("TPU-v5p", 0.0),
                ("TPU-v6e", 32 * GiB - 33550237696))
#: ``RuntimeReserve`` per platform (planner.hardware.platform ``PLATFORMS``). CUDA: the allowances above. ROCm:
#: PyTorch's ROCm build hipifies the CUDA caching allocator (c10/hip from c10/cuda/CUDACachingAllocator.cpp) and
#: RCCL is NCCL's port: CUDA's figures (no HIP context size measured). Gaudi (HCCL) and Trainium (the Neuron
#: runtime): CUDA's, none measured on those chips. TPU: the runtime's withheld HBM only (``TPU_WITHHELD``; an
#: unlisted part v6e's, the newest measured) -- XLA's collectives run in buffers the compiled program assigns (the
#: gathered weights and unreduced gradients this module prices), not a communicator's own, and there is no caching
#: allocator: XLA's buffer assignment places every temporary at compile time
#: (xla/service/buffer_assignment.cc over heap_simulator.cc) and the compiler fits the program to ``bytes_limit`` or
#: fails. Until tpumem42 (2026-12-05) a TPU plan was priced at the GPU allowances (1.85 GiB on GPT-3 175B v6e-256)
RUNTIME_RESERVE = {
    "cuda": GPU_RESERVE,
    # (CUDA's module loading figures are CUDA's: none off CUDA)
    "rocm": dataclasses.replace(GPU_RESERVE, words="the HIP context, RCCL buffers and fragmentation",
                                eager_context=None),
    "gaudi": dataclasses.replace(GPU_RESERVE, words="the runtime's reserve, HCCL buffers and fragmentation",
                                 eager_context=None),
    "tpu": RuntimeReserve(dict(TPU_WITHHELD)["TPU-v6e"], 0.0, 0.0,
                          "the HBM the XLA runtime withholds from the program", TPU_WITHHELD),
    "neuron": dataclasses.replace(GPU_RESERVE, words="the Neuron runtime's reserve, collective buffers and "
                                                     "fragmentation, priced as a GPU's,", eager_context=None),
}


def other_words(platforms) -> str:
    """``RuntimeReserve.words`` for the platform(s) ``platforms`` (a key, or an iterable of keys; None or unknown:
    CUDA's); several different: the runtime's reserve in general words."""
    keys = {platforms} if platforms is None or isinstance(platforms, str) else set(platforms)
    words = {RUNTIME_RESERVE.get(k or "cuda", GPU_RESERVE).words for k in keys} or {GPU_RESERVE.words}
    return words.pop() if len(words) == 1 else "the runtime's reserve, communication buffers and fragmentation"


@functools.lru_cache(maxsize=256)
def _part_platform(gpu: str) -> str | None:
    """The platform of shipped catalog part ``gpu``, None where the catalog does not know it (a measured profile's
    device, a user's own part)."""
    from hardware_catalog.catalog import builtin_gpu
    from planner.hardware.platform import platform_of
    try:
        return platform_of(builtin_gpu(gpu))
    except KeyError:
        return None


def runtime_reserve(gpu: str | None, stack) -> tuple[RuntimeReserve, float]:
    """(``RUNTIME_RESERVE`` entry, its context bytes) for a job on catalog part ``gpu`` under ``stack``: the part's
    platform, else the stack's where it runs on one only (``Stack.platforms``: MaxText's is the TPU), else CUDA; the
    context by the stack's runtime era (``Stack.cuda_module_loading``)."""
    plat = _part_platform(gpu) if gpu else None
    plats = tuple(getattr(stack, "platforms", ()) or ())
    r = RUNTIME_RESERVE.get(plat or (plats[0] if len(plats) == 1 else "cuda"), GPU_RESERVE)
    return r, r.context_on(gpu, getattr(stack, "cuda_module_loading", "lazy"))


def gpu_memory_key(gpu: str | None) -> tuple:
    """All that ``memory_per_gpu`` reads of its GPU name ``gpu``, as a hashable value: two parts with the same key get
    the same answer, bit for bit, on the same model, spec, stack and rows. The name enters in three places only: the
    part's platform (``_part_platform``) and its measured withheld memory (``RuntimeReserve.context_on``), which pick
    the runtime's reserve (``runtime_reserve``), and whether it is a compute capability 10.x part (physics.SM100),
    where Transformer Engine's per-tensor FP8 weights need no transposed copy (``stack_kernels.fp8_linear_weight_bytes``,
    ``te_skips_fp8_transpose``). A search's memo (``planner.search.recommend.SearchMemo.memory``) asks once per key:
    the catalog's 22 CUDA parts before Blackwell share one (12 in a whole-catalog search, speed46).
    tests/test_speed46.py holds every catalog part to the answers of the parts that share its key. A new read of
    ``gpu`` in this module belongs here."""
    from planner.model.physics import SM100

    plat = _part_platform(gpu) if gpu else None
    contexts = tuple(r.context_on(gpu) for r in RUNTIME_RESERVE.values())
    return plat, contexts, gpu is not None and str(gpu).upper().startswith(SM100)


def allocator_reserve(dynamic, fragmentation=FRAGMENTATION):
    """The caching allocator's reserve on ``dynamic`` bytes (a stage's activations + logits): ``fragmentation`` of
    them (``RuntimeReserve.fragmentation``; CUDA's ``FRAGMENTATION``, 0 under XLA), in ``other`` beside the part the allocator never sees (``memory_per_gpu``'s ``outside_allocator``), so
    ``other`` = ``outside_allocator`` + ``allocator_reserve(activations + logits)``. In a max_reserved or nvidia-smi
    figure, not in a max_allocated one (benchmarks/validate_memory.py)."""
    return fragmentation * dynamic


def stored_weight_bytes(training: TrainingSpec) -> float:
    """Bytes per parameter of the weights as a checkpoint writes them: the convention's weights less the compute
    copies (``WEIGHT_COPY_BYTES``: autocast's 16-bit copy, TE's cached FP8 copy), e.g. 4 under AMP (the fp32
    weights; HF Trainer's ``model.safetensors``), 2 under fp8 with a master copy (the 16-bit weights)."""
    key = (training.precision, training.weights)
    return float(PRECISION_CONVENTIONS[key][0] - WEIGHT_COPY_BYTES.get(key, 0))


#: the optimizers whose torch.optim state is built ``torch.zeros_like(param)``: in the parameters' dtype
#: (torch/optim/adam.py, adamw.py ``_init_group``: ``exp_avg``, ``exp_avg_sq``)
MOMENTS_LIKE_PARAMS = ("adam", "adamw")


def params_16bit(stack, training: TrainingSpec) -> bool:
    """Whether ``stack`` stores this job's trained parameters in its 16-bit dtype with no fp32 master
    (``Stack.params_16bit``: NeMo AutoModel's custom MoE models): a 16-bit job under the 16-bit + master convention."""
    return (bool(getattr(stack, "params_16bit", False)) and training.weights == "megatron"
            and training.precision in ("bf16", "fp16"))


def moments_16bit(stack, training: TrainingSpec) -> bool:
    """Whether Adam / AdamW keeps its two moments in the job's 16-bit parameter dtype, not fp32: a stack that stores
    the parameters in 16 bits (``params_16bit``: torch's ``zeros_like(p)``), or one whose moments follow the
    parameters' dtype (``Stack.moments_like_params``: optax under MaxText's ``mu_dtype`` ""; NeMo 1.x's Apex
    DistributedFusedAdam at ``optim.dtype: bf16`` over the bf16 model) on a job whose weights are 16-bit with no
    master (``weights: pure``; fp8 = TE's fp8 GEMMs over those bf16 weights). Read by the memory (the moments' bytes)
    and the step time (the optimizer pass's bytes)."""
    if training.optimizer not in MOMENTS_LIKE_PARAMS:
        return False
    # fp8 here is TE's fp8 GEMMs over bf16 parameters (the fp8 copy is a cast cache): the moments follow the bf16
    return params_16bit(stack, training) or (bool(getattr(stack, "moments_like_params", False))
                                             and training.weights == "pure"
                                             and training.precision in ("bf16", "fp16", "fp8"))


def model_state_bytes_per_param(training: TrainingSpec, hidden: int = 4096, stack=None):
    """(weights, grads, master, optimizer) bytes per parameter for this precision convention. On a stack that
    stores the parameters in 16 bits (``params_16bit``) there is no master, and torch's Adam / AdamW moments
    are 16-bit (``MOMENTS_LIKE_PARAMS``); the gradients keep the convention's bytes (FSDP2's ``reduce_dtype``)."""
    w, g32, gsame, master = PRECISION_CONVENTIONS[(training.precision, training.weights)]
    g = g32 if training.grad_dtype == "fp32" else gsame
    opt = OPTIMIZER_STATE[training.optimizer]
    if opt is None:  # Adafactor keeps one fp32 value per row and per column of each matrix
        opt = 4.0 * 2.0 / hidden
    if params_16bit(stack, training):
        master = 0.0
    if moments_16bit(stack, training):
        # two moments at the 16-bit parameters' 2 B, not fp32's 4 (under fp8, w also counts the cached fp8 copy)
        opt = opt * min(w, 2.0) / 4.0
    if getattr(stack, "casts_weights_per_use", False):  # no 16-bit copy of the shard (Stack.casts_weights_per_use)
        w = w - WEIGHT_COPY_BYTES.get((training.precision, training.weights), 0)
    return float(w), float(g), float(master), float(opt)


def hsdp_groups(tp, dp, cp, ep, etp, dp_shard):
    """ZeRO's sharding groups under hybrid sharded data parallelism (arrays welcome): (dense, expert).
    The dense states are sharded over ``dp_shard`` x cp ranks (the DP x CP group when dp_shard = dp);
    the experts' over the expert-data-parallel group tp*cp*dp / (etp*ep) (Megatron-Core's expert grid)
    cut to the shard group's share, dp_shard / dp of it, at least one rank. The expert part is a
    simplification: torchtitan's efsdp = dp_shard x cp x tp / ep (parallel_dims.py) is this when dp_shard
    x cp x tp is a multiple of ep."""
    tp = np.asarray(tp, dtype=np.float64)
    full = np.maximum(tp * (np.asarray(dp) * np.asarray(cp)).astype(np.float64) / (np.asarray(etp) * np.asarray(ep)), 1.0)
    dense = (np.asarray(dp_shard) * np.asarray(cp)).astype(np.float64)
    same = np.asarray(dp_shard) == np.asarray(dp)
    part = np.maximum(tp * dense / (np.asarray(etp) * np.asarray(ep)), 1.0)
    return dense, np.where(same, full, part)


def zero_bytes_per_param(zero, n, weights=2.0, grads=2.0, optimizer=12.0):
    """Bytes per parameter per GPU under ZeRO stage ``zero`` over ``n`` ranks (arrays welcome).
    With the defaults this is the ZeRO paper's 16 / 4+12/N / 2+14/N / 16/N."""
    zero = np.asarray(zero)
    n = np.asarray(n, dtype=np.float64)
    w = np.where(zero >= 3, weights / n, weights)
    g = np.where(zero >= 2, grads / n, grads)
    o = np.where(zero >= 1, optimizer / n, optimizer)
    return w + g + o


def zero_stage_states(stack, training: TrainingSpec, grads: float, weights: float = 2.0):
    """Per ZeRO stage 0..3 (index), what the gradients and the optimizer state cost per trained parameter
    beyond the weights, as arrays: (gradient bytes held unsharded, gradient bytes held as the 1/N shard, optimizer
    state sharded (bool), reduce-bucket bytes per rank (not per parameter), ``.grad`` kept (``KEPT_*``), 16-bit
    ``.grad`` bytes per parameter, bytes per element of the rank's largest parameter held as one buffer:
    ``ZeroStageStates.largest_grad_buffer``, DeepSpeed's offload, ``state_grads``; master bytes per parameter the
    wrapper adds, ``state_optimizer``). ``grads``: the convention's gradient bytes (``model_state_bytes_per_param``),
    ``weights`` the 16-bit weight bytes. On an FSDP2 stack (``Stack.fsdp2_dp``) the ZeRO-2/3 gradient shard is in the
    fp32 master's bytes whatever ``grads`` says (torch ``foreach_reduce`` casts the reduced shard to the parameter's
    dtype).

    The ZeRO paper's convention (Rajbhandari et al. 2020 §5): the gradient buffer whole below ZeRO-2 and sharded
    from it, the optimizer state sharded from ZeRO-1; ``.grad`` kept where DDP keeps it (ZeRO-0; ZeRO-1 without
    overlapped reduction), through every forward where the loop's ``zero_grad`` zeroes it in place
    (``Stack.zero_grad_frees`` False). A stack whose optimizer wrapper holds other buffers says so (``Stack.zero_states``: a
    ``planner.model.stacks.ZERO_STATES`` table, DeepSpeed's, read from its source there) and takes that table's rows
    for 16-bit training with fp32 master weights (``weights: megatron``); any other precision or convention keeps
    the paper's. The table replaces ``training.grad_dtype``: DeepSpeed chooses its accumulation dtype itself
    (engine.py ``get_data_types``, the defaults the table is read at). Under DeepSpeed's ``torch_autocast`` section
    (an fp32 module under autocast: ``stacks.fp32_module_zero_rows``) ZeRO 1-3 take the table's rows in the module's
    fp32 and a master partition (the eighth array: master bytes per parameter beside the convention's, sharded as
    the optimizer state is); until dsamp52 the paper's rows: Llama-3-8B on the deepspeed stack, 8 H100s, ZeRO-2 under
    ``mixed_precision: amp``, without the 3.74 GiB master partition and the 5.59 GiB of fp32 + bf16 reduce buckets.
    Plain fp32 training (no 16-bit section) runs the same wrappers over the same fp32 module and takes the same rows
    (one fp32 reduce bucket); until dsfp53 the paper's."""
    from planner.model.stacks import (DS_MASTER_PARTITION_BYTES, GRADS_KEPT, ZERO_REDUCE_BUCKET_ELEMS,
                                      autocast_tags_linears, fp32_module_zero_rows, zero_state_rows)

    rows = zero_state_rows(stack, training)
    # DeepSpeed's ZeRO 1-3 wrappers over an fp32 module (stacks.fp32_module_zero_rows: its torch_autocast section or
    # plain fp32), the rows' 16-bit buffers in the module's dtype (the convention's weights less autocast's copy: fp32)
    auto = fp32_module_zero_rows(stack, training) if rows is None else None
    module = weights
    if auto is not None:
        module = PRECISION_CONVENTIONS[(training.precision, training.weights)][0] - WEIGHT_COPY_BYTES.get(
            (training.precision, training.weights), 0)
    if rows is None:
        keep1 = KEPT_NONE if getattr(stack, "overlap_grad_reduce", True) else KEPT_ACCUMULATED
        # FSDP2 over fp32 parameters (Stack.fsdp2_dp) casts the reduced shard to the parameter's dtype: the master's
        # fp32 where there is one, whatever training.grad_dtype reduces in
        master = PRECISION_CONVENTIONS[(training.precision, training.weights)][3]
        shard = master if (getattr(stack, "fsdp2_dp", False) and master) else grads
        if getattr(stack, "fsdp2_dp", False) and params_16bit(stack, training):  # 16-bit parameters: their dtype
            shard = weights
        kept = np.array([KEPT_ACCUMULATED, keep1, KEPT_NONE, KEPT_NONE])
        if not getattr(stack, "zero_grad_frees", True):
            # the loop's zero_grad zeroes the .grad tensors in place (torch < 2.0's default, Stack.zero_grad_frees):
            # those it keeps to the step stay through the next forward (bertmem50)
            kept = np.where(kept == KEPT_ACCUMULATED, KEPT_PERSIST, kept)
        paper = (np.array([grads, grads, 0.0, 0.0]), np.array([0.0, 0.0, shard, shard]),
                 np.array([False, True, True, True]), np.zeros(4), kept, np.zeros(4), np.zeros(4), np.zeros(4))
        if auto is None:
            return paper
        rows = tuple(r or auto[1] for r in auto)  # (ZeRO-0's stand-in is replaced by the paper's row below)
    overlap = int(bool(getattr(stack, "overlap_grad_reduce", False)))
    bucket = getattr(stack, "reduce_bucket_size", None) or ZERO_REDUCE_BUCKET_ELEMS  # the job's, else DeepSpeed's
    # one reduce bucket per comm dtype: the module's, and under torch_autocast the autocast dtype of the nn.Linear
    # parameters it tags (torch_autocast.py ``init_autocast_params``: exact class match, so the HF model code's
    # nn.Linear layers, ``Stack.mixed_precision`` set, and not Megatron's ColumnParallelLinear / RowParallelLinear)
    scale = module / weights if auto is not None else 1.0  # the rows' 16-bit partition in the module's dtype
    comm = module + (weights if auto is not None and autocast_tags_linears(stack, training) else 0.0)
    table = (np.array([r.acc_bytes for r in rows]), np.array([r.shard_grad_bytes * scale for r in rows]),
             np.array([r.optimizer_sharded for r in rows]),
             np.array([r.reduce_buckets[overlap] * bucket * comm for r in rows]),
             np.array([GRADS_KEPT.index(r.grads_kept) for r in rows]),
             np.array([module if r.grads_kept != "none" else 0.0 for r in rows]),
             np.array([module if r.largest_grad_buffer else 0.0 for r in rows]),
             np.zeros(4))
    if auto is None:
        return table
    # ZeRO 1-3 from the wrapper, with the fp32 master partition it clones beside the fp32 module (the convention's
    # ``weights: amp`` has no master); ZeRO-0 the paper's (the client optimizer over the module)
    table[7][:] = DS_MASTER_PARTITION_BYTES
    return tuple(np.where(np.arange(4) == 0, p, t) for p, t in zip(paper, table))


#: Megatron-FSDP's communication window, in elements: without ``--suggested-communication-unit-size``
#: Megatron-Core 0.16.1 (megatron/core/distributed/fsdp/src/megatron_fsdp/megatron_fsdp.py
#: ``_init_fsdp_param_and_grad_buffer``) takes twice the mean FSDP unit (a TransformerLayer) under
#: optim_grads_params, the DDP bucket under optim_grads, and raises it to at least 1e9 elements
#: (``max(1_000_000_000, suggested_communication_unit_size)``, commented "Cap to 1B elements")
MFSDP_COMM_WINDOW = 1e9
#: Megatron-LM training.py ``get_model``: the DDP/Megatron-FSDP bucket when --ddp-bucket-size is unset,
#: max(40000000, 1000000 * data-parallel size with context parallelism) parameters
MFSDP_BUCKET_MIN, MFSDP_BUCKET_PER_DP = 4e7, 1e6


def mfsdp_unit_params(m: ModelSpec, tp, etp, ep):
    """Parameters of the mean Megatron-FSDP unit on a rank at ZeRO-3: one TransformerLayer (the FSDP unit
    module, megatron/core/distributed/fsdp/mcore_fsdp_adapter.py ``fsdp_unit_modules = [TransformerLayer]``
    for optim_grads_params), its dense part split over TP and its routed experts over expert-TP x EP."""
    pc = count_params(m)
    if not m.is_transformer or not m.layers:
        return np.broadcast_to(float(pc.total), np.shape(tp)).astype(np.float64)
    experts = m.moe.experts * pc.expert if m.moe else 0
    tp = np.asarray(tp, dtype=np.float64)
    moe = (pc.moe_layer - experts) / tp + experts / (np.asarray(etp, dtype=np.float64) * ep)
    return (pc.n_dense_layers * pc.dense_layer / tp + pc.n_moe_layers * moe) / m.layers


def mfsdp_buffer_elems(zero, unit, bucket, stage, double_buffer: bool = False):
    """(gathered 16-bit weight elements, unsharded gradient elements) Megatron-FSDP holds per rank beyond
    its ZeRO shards, at ZeRO-2 (optim_grads) and ZeRO-3 (optim_grads_params). With ``double_buffer``
    (--fsdp-double-buffer, ``Stack.mfsdp_double_buffer``) a fixed pool of two chunks each (param_and_grad_buffer.py
    ``FixedPoolAllocator(size=2)``, the gradients kept to it by ``_enforce_double_buffer_limit``; mbmem38: Llama 3 70B
    at 856M parameters a unit, the gradients 3 -> 2 units, -1.6 GiB in bf16); without it (Megatron-LM's default) the
    communication window's count below. ``unit``: the mean FSDP unit (``mfsdp_unit_params``), ``bucket``: the
    ZeRO-2 bucket, ``stage``: the stage's parameters on the rank, which bound both. Megatron-Core 0.16.1
    megatron/core/distributed/fsdp/src/megatron_fsdp/param_and_grad_buffer.py:

    * weights (ZeRO-3): the unit being computed plus its prefetch. ``AllGatherPipeline.all_gather_params``
      adds the next unit while the prefetched size is below ``suggested_AG_prefetch_size`` = window / 2,
      ceil(window / 2 / unit) units ahead, in forward and in backward (``MFSDP_COMM_WINDOW``);
    * gradients: each unit's (ZeRO-3) or bucket's (ZeRO-2) gradients are copied into a temporary unsharded
      bucket (megatron_fsdp.py ``_grad_acc``) and reduce-scattered; ``GradReducePipeline`` frees a bucket
      only when ``wait_for_previous_grad_reduce`` pops it, which it does while the queue holds more than
      the window (``suggested_RS_queue_capacity``): floor(window / chunk) + 1 chunks held."""
    zero = np.asarray(zero)
    unit = np.maximum(np.asarray(unit, dtype=np.float64), 1.0)
    z3 = zero >= 3
    chunk = np.where(z3, unit, bucket)
    window = np.maximum(MFSDP_COMM_WINDOW, np.where(z3, 2 * unit, bucket))
    held_w = 2.0 * unit if double_buffer else (1 + np.ceil(window / 2 / unit)) * unit
    held_g = 2.0 * chunk if double_buffer else (np.floor(window / chunk) + 1) * chunk
    weights = np.where(z3, np.minimum(held_w, stage), 0.0)
    grads = np.where(zero >= 2, np.minimum(held_g, stage), 0.0)
    return weights, grads


def ds_zero3_live_elems(stage, largest_param, max_live):
    """Gathered 16-bit parameter elements a DeepSpeed ZeRO-3 rank holds at its peak: min(``max_live`` +
    ``largest_param``, ``stage``), for ``stage`` the rank's non-persistent parameters (TP slice, local experts),
    ``largest_param`` its largest single parameter and ``max_live`` the stack's ``stage3_max_live_parameters``
    (``Stack.zero3_max_live_params``). deepspeedai/DeepSpeed deepspeed/runtime/zero/partitioned_param_coordinator.py
    (read 2026-12-02): ZeRO-3 gathers per submodule (each ``nn.Linear``, not per layer). ``fetch_sub_module`` gathers
    the module's own parameters, then -- once the trace is recorded -- prefetches the next parameters of the trace,
    whole ones, while the elements it adds are below min(``stage3_max_live_parameters`` - the elements already
    available, ``stage3_prefetch_bucket_size``): the loop tests before it adds, so the last one added may overshoot
    by up to one parameter. Nothing is released before its module's post-hook (``release_sub_module``), and a
    parameter reused within ``stage3_max_reuse_distance`` (1e9) elements of the trace -- the LM head from its forward
    to its backward -- is not released at all. Every hook of the trace prefetches afresh (a HF Llama layer fires
    about 14 module hooks, its parameters 9), and the bucket (DeepSpeed's 5e7, HF Trainer "auto" 0.9 x hidden^2,
    transformers integrations/deepspeed.py ``trainer_config_finalize``) times the hooks outgrows what a layer uses
    (Llama 3 8B: 218M a layer, 70B 856M), so the window fills to the cap: taken as filled, an assumption the bucket
    size does not enter. Until 2026-12-02 the ``deepspeed`` stack held two whole layers gathered, as FSDP does
    (Llama 3 8B: 0.87 GB; 70B: 3.4 GB); at the 1e9 default with the 128256 x h LM head (8B: 525M, 70B: 1.05B)
    the window is 3.05 GB and 4.1 GB. A re-enactment of the coordinator over a HF Llama module trace (forward,
    recomputed forward, backward; tests/test_dsz3.py) peaks at 1.515e9 (8B) and 1.990e9 (70B) elements at both
    bucket sizes, against 1.525e9 and 2.05e9 here: the formula is an upper bound by 1-3%."""
    return np.minimum(max_live + np.asarray(largest_param, dtype=np.float64), stage)


def largest_param_elems(m: ModelSpec, tp):
    """Elements of a transformer's largest single weight matrix on one rank (its TP slice): the embedding / LM
    head (vocab x hidden) or a layer's (``layer_matrix_elems``) -- DeepSpeed ZeRO-3's prefetch overshoot
    (``ds_zero3_live_elems``)."""
    widest = max(float(m.hidden or 0) * (m.vocab or 0), layer_matrix_elems(m))
    return widest / np.asarray(tp, dtype=np.float64)


def ds_persistent_elems(m: ModelSpec, threshold: float) -> float:
    """Elements DeepSpeed ZeRO-3 keeps whole on every rank (``stage3_param_persistence_threshold``: parameters of
    at most ``threshold`` elements are never partitioned, partition_parameters.py ``ds_persist``): the norm weights
    (``layer_norms`` a layer and the final one, hidden elements each) where hidden <= threshold; biases and per-head
    norms left out."""
    if not m.is_transformer or not m.hidden or m.hidden > threshold:
        return 0.0
    return float((m.layer_norms * m.layers + 1) * m.hidden)


def scan_head_grad_transient(m: ModelSpec, st, c: Candidates, act_b):
    """Bytes the loss's backward holds beside the logits under a scanned FSDP stack (``Stack.scan_gathers``:
    MaxText), per candidate: the output projection's full-size weight gradient (vocab x hidden over TP, in the
    compute dtype ``act_b``) before its reduce-scatter, where the gradients are sharded (ZeRO-2 and above).

    The same mechanism as a layer's matrix (``scan_unreduced_grad_elems``: the head's kernel is sharded over the
    fsdp axis and the hidden states over the batch, so dW = h^T dlogits is each chip's partial sum of the whole
    matrix, reduce-scattered to its shard; jax-ml/scaling-book training.md, "Fully-Sharded Data Parallelism"),
    at the loss's end of the backward: the dot that makes it reads the logits' gradient, so the two are live
    together (one XLA program's buffer assignment, xla/service/buffer_assignment.cc), before the backward scan
    rebuilds its first layer (``loss_logits``). Under vocabulary tiling the tiles' gradients accumulate into
    one whole kernel gradient (the tiling's custom VJP carries the gathered kernel's gradient across its scan),
    so tiling does not shrink it. Until tpumem42 (2026-12-05) not priced: Llama 3.1 70B 128256 x 8192 in bf16,
    1.96 GiB beside the logits. 0 off ``Stack.scan_gathers`` or below ZeRO-2."""
    if not (getattr(st, "scan_gathers", False) and m.is_transformer):
        return np.zeros(len(c))
    return np.where(np.asarray(c.zero) >= 2, head_elems(m, c.tp) * act_b, 0.0)


def head_elems(m: ModelSpec, tp):
    """Elements of the output projection (vocab x hidden; the tied table where tied) on one rank, over TP."""
    return float(m.vocab or 0) * (m.hidden or 0) / np.asarray(tp, dtype=np.float64)


def scan_loss_weights(m: ModelSpec, st, c: Candidates, act_b, layer_gathered, gather_b):
    """What the loss's backward holds beyond the weights term under a scanned FSDP stack, per candidate: the head's
    unreduced gradient (``scan_head_grad_transient``) and, at ZeRO-3, the head's gathered kernel in place of the
    gathered layer the weights term carries (``layer_gathered``: one gathered layer's bytes, the largest unit at
    the gathered width; ``gathered_blocks``). At the loss no layer is gathered: the forward scan has ended and the backward's first gather
    is at most prefetched (XLA's backward all-gather pipelining, ``Stack.ag_backward_pipelining``, holds that one
    beside the head), so one layer's bytes leave and the head's (gathered at the layers' width, ``gather_b`` bytes an
    element: ``param_gather_bytes``, 16-bit under 16-bit training, fp32 under fp32) come in; negative where the head
    is the smaller."""
    grad = scan_head_grad_transient(m, st, c, act_b)
    if not (getattr(st, "scan_gathers", False) and m.is_transformer):
        return grad
    return grad + np.where(np.asarray(c.zero) >= 3, head_elems(m, c.tp) * gather_b - layer_gathered, 0.0)


def fsdp2_reduce_buffer_bytes(unit, grad_bytes, reduce_bytes, head=0.0, root: str = "", moe: bool = False):
    """Bytes an FSDP2 rank (``Stack.fsdp2_dp``, ZeRO-2 and ZeRO-3) holds for the gradients of the units in its
    backward beyond its sharded gradients: ``unit`` x (``grad_bytes`` + ``reduce_bytes``) for ``unit`` the rank's
    share of the largest layer (memory_stages ``largest_unit_params``). torch/distributed/fsdp/_fully_shard
    (pytorch/pytorch 010ae4a8, read 2026-12-02): autograd leaves each unit's unsharded gradient in the parameter dtype
    of its ``MixedPrecisionPolicy`` (bf16, ``grad_bytes``) until the unit's post-backward; ``foreach_reduce``
    (_fsdp_collectives.py) then allocates the reduce-scatter input, the whole unit in ``reduce_dtype``
    (``reduce_bytes``: fp32 under torchtitan's ``mixed_precision_reduce = "float32"``, ``training.grad_dtype``),
    copies the gradients into it and frees them; ``FSDPParamGroup.post_backward`` keeps that input in
    ``comm_ctx.reduce_scatter_state`` until the next unit's post-backward, so while unit k computes its
    gradients unit k+1's reduce-scatter input is still held. The all-gathered weights of the unit in use and
    the one prefetched are the weight term's (2 x memory_stages ``largest_unit_params``); the reduce-scatter output
    (1/N of the unit) becomes the sharded gradient, the gradient term's; the bf16 cast of the all-gather input
    (1/N) is left out. A Llama-3-70B layer (855.7M parameters) without TP: 855.7M x (2 + 4) = 5.1 GB.

    The unit outside the blocks that holds the LM head (``Stack.fsdp2_root``, ``head``: the rank's final norm + LM
    head, 0 on a stage without it) is reduced the same way, in the same ``reduce_dtype`` -- torchtitan's
    ``MixedPrecisionPolicy(param_dtype, reduce_dtype)`` is one policy for every ``fully_shard`` call of
    ``apply_fsdp`` (torchtitan/models/llama3/infra/parallelize.py), ``mixed_precision_reduce`` "float32" its only
    value (torchtitan/config/job_config.py ``Training``):

    * "head" (torchtitan's ``[norm, output]`` unit, AutoModel's MoE ``lm_head``): the first unit in backward; its
      post-backward holds its bf16 gradient and copies it into its reduce-scatter input (``foreach_reduce``: the
      gradients are cleared only after the copy-in), and that input stays while the last block computes its
      gradients: the buffer is ``max(unit, head)`` x (``grad_bytes`` + ``reduce_bytes``) -- Llama-3-8B at TP 1: the
      head's 525.3M parameters, not a layer's 218.1M: 3.15 GB, not 1.31 GB. It exists only after the loss's backward
      (``memory_per_gpu`` charges what it exceeds the logits and their loss transient by);
    * "embed_head" (the root unit: torchtitan before #1094, AutoModel's dense models): the root's post-backward runs
      in the final callback, after the embedding's backward, so the head's bf16 gradient stays unsharded through the
      whole backward beside the blocks' buffers: + ``head`` x ``grad_bytes`` (the root's own reduce-scatter input at
      the very end, when the activations are freed, is left out), again from the loss's backward on."""
    unit = np.asarray(unit, dtype=np.float64)
    head = np.broadcast_to(np.asarray(head, dtype=np.float64), unit.shape)
    kind = root.split("|")[1 if moe else 0] if "|" in root else root
    if kind == "head":
        return np.maximum(unit, head) * (grad_bytes + reduce_bytes)
    if kind == "embed_head":
        return unit * (grad_bytes + reduce_bytes) + head * grad_bytes
    return unit * (grad_bytes + reduce_bytes)


def fsdp2_root_gather_params(kind: str, ends, head, largest, moe: bool = False):
    """Parameters one rank holds gathered (16-bit) at the loss / start of backward beyond the two blocks in flight
    (2 x memory_stages ``largest_unit_params``), for what an FSDP2 stack leaves outside its per-block units
    (``Stack.fsdp2_root``), at ZeRO-3 with reshard after forward. ``ends``: the stage's parameters outside its blocks
    (embedding, final norm, LM head: memory_stages ``pipeline_end_params``), ``head``: its final norm + LM head,
    ``largest``: its share of the largest block, all per rank (over TP).

    * "embed_head" (torchtitan before PR #1094, 2025-07; parallelize_llama.py ``apply_fsdp`` at 2024-12: ``fully_shard``
      per block, then ``fully_shard(model)``): the embedding, final norm and head are the root unit, which FSDP2 never
      reshards after forward (torch _fsdp_state.py ``_lazy_init``: "For the root, do not reshard after forward") --
      gathered from the first forward to the end of backward: all of ``ends`` (Llama-3-8B at TP 1: 1.05B parameters,
      1.96 GiB in bf16). accelerate's FSDP1 (``Stack.fsdp_version`` 1 on a stack whose ``fsdp2_root`` says
      "embed_head": transformer auto-wrap, one unit a decoder block, the root the rest) likewise: torch 2.13
      distributed/fsdp/_runtime_utils.py ``_post_forward_reshard`` frees the unsharded flat parameter only ``if not
      state._is_root``, and the root's post-backward (its FlatParameter the autograd leaf, the embedding's gradient
      last) comes at the end of backward; at its ``param_dtype`` (``fsdp1_param_bytes``). Measured
      (tests/data/fsdp1_truth.json, tiny Llama, world size 2, FULL_SHARD): the root's 32,832 elements, 65,664 B of
      ``_full_param_padded``, alive after every forward where each block's is freed. Until fsdp52b FSDP1's root was
      priced sharded. llm-foundry's Composer FSDP1 (``fsdp1_layout``) likewise, by another road: its MPT wraps the tied
      embedding (``wte``, the LM head too: ``SharedEmbedding``) as a unit of its own, resharded after each forward
      use, but gathered again at the head's backward it stays gathered to the embedding's backward, the end of
      backward: the unit's post-backward hook runs on its FlatParameter's gradient accumulation, which waits for
      both uses (measured on torch 2.13 FSDP1, FULL_SHARD over a fake 4-rank group, tests/test_dsamp52.py: at the
      last block's backward the embedding's 2 B an element beside the two blocks in flight); an HF model under
      llm-foundry leaves the untied embedding, final norm and head to the root outright. Until fsdp52c unpriced
      there (Llama-3-8B at DP 8: 1.96 GiB a GPU).
    * "head" (torchtitan since #1094: ``fully_shard([model.norm, model.output], reshard_after_forward=False)``, the
      embedding its own unit resharded after forward, every block resharded after forward): at the head's backward
      it is gathered beside the last block, prefetched -- head + largest where the blocks' window counts
      2 x largest: max(head - largest, 0) more (Llama-3-8B: 525.3M - 218.1M = 307M, 0.57 GiB).
    * "dense|moe": the first kind on a dense model, the second on a MoE model (NeMo AutoModel's "embed_head|head":
      ``Stack.fsdp2_root``); ``moe`` says which.
    * anything else: 0."""
    if "|" in kind:
        kind = kind.split("|")[1 if moe else 0]
    ends, head, largest = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (ends, head, largest)))
    if kind == "embed_head":
        return ends.copy()
    if kind == "head":
        return np.maximum(head - largest, 0.0)
    return np.zeros(ends.shape)


def state_bytes(m: ModelSpec, t: TrainingSpec, stack=None) -> StateBytes:
    """Bytes per parameter the job's precision and optimizer hold on ``stack`` (``model_state_bytes_per_param``);
    lora/qlora: the base is stored only (finetune.py), the adapters are added by ``adapter_states``. On a stack running
    Megatron-Core's precision-aware optimizer (planner.model.optimizers ``precision_aware``) the master and the
    moments at the dtypes it keeps them in."""
    w_b, g_b, master_b, opt_b = model_state_bytes_per_param(t, m.hidden or 4096, stack)
    pa = optimizers.precision_aware(stack, t)
    if pa is not None:
        master_b, opt_b = pa.master, pa.optimizer
    frozen = frozen_base(m, t)
    state_b = master_b + opt_b  # bytes per trained parameter the optimizer holds (offloaded below)
    adapter_opt_b = 0.0
    if frozen:  # lora/qlora: the base is stored only (finetune.py); adapters are added below
        adapter_opt_b = opt_b
        w_b, g_b, master_b, opt_b = frozen_storage_bytes(m, t, stack) / count_params(m).total, 0.0, 0.0, 0.0
    return StateBytes(w_b, g_b, master_b, opt_b, state_b, adapter_opt_b, bool(frozen), ACT_BYTES[t.precision])


@dataclasses.dataclass(frozen=True, slots=True)
class StateContext:
    """What the model-state terms read (``state_context`` builds it once per call): the distinct layout keys (model
    states and group counts depend only on (pp, tp, dp, cp, ep, zero, etp, dp_shard, vpp)) with ``sinv`` gathering
    them back to the candidates, the stages' parameters, the ZeRO tables and how the weights are stored."""
    m: ModelSpec
    t: TrainingSpec
    st: object
    b: StateBytes
    kpp: np.ndarray
    ktp: np.ndarray
    kdp: np.ndarray
    kcp: np.ndarray
    kep: np.ndarray
    kz: np.ndarray
    ketp: np.ndarray
    kdsh: np.ndarray
    kvpp: np.ndarray
    sinv: np.ndarray
    ktpf: np.ndarray
    dps: np.ndarray  # ZeRO sharding group (HSDP: dp_shard x cp, else dp x cp)
    edps: np.ndarray  # expert data-parallel shard group
    kzi: np.ndarray
    f_dense: np.ndarray
    f_exp: np.ndarray
    l_dense: np.ndarray
    l_exp: np.ndarray
    k_layers: np.ndarray
    largest: np.ndarray
    first_blocks: dict | None  # the blocks each of the two stages holds, by kind (memory_stages ``StageSplit``; Muon only)
    last_blocks: dict | None
    muon: bool
    g_whole: object
    g_shard: object
    o_shard: object
    g_bucket: object
    g_kept: object
    g_autograd: object
    g_largest: object  # bytes per element of the largest parameter's buffer (zero_stage_states; DeepSpeed's offload)
    o_master: object  # master bytes per parameter the wrapper keeps beyond the convention's (zero_stage_states)
    w_held: object
    w_end: object
    dw16: object
    ends_f: np.ndarray
    ends_l: np.ndarray
    head_f: np.ndarray
    head_l: np.ndarray
    lp16_f: tuple
    lp16_l: tuple
    fsdp2: bool
    shard_master: bool  # the ZeRO-3 weight shard is the fp32 master (FSDP2; Stack.fsdp_fp32_shard_master)
    #: bytes an element of FSDP's unsharded (all-gathered) parameters where the weight term is FSDP's shard and its
    #: gathered copy (``param_gather_bytes``: AMP's 16-bit ``param_dtype``, fp32 training's own 4 B, a frozen
    #: base's), else 0 (state_weights, fsdp_amp_keys)
    fsdp_gather_bytes: float
    ds_live: object
    ds_persist: float
    mfsdp_unit: object  # Megatron-FSDP's mean unit (``mfsdp_unit_params``) per key; None on other stacks
    before_last: tuple = ()
    #: (share of the layer parameters, bytes each) of a bitsandbytes base the stack's FSDP leaves whole on every rank
    #: at ZeRO-3 (``Stack.bnb_whole_at_zero3``, ``finetune.bitsandbytes_layer_bytes``), and whether FSDP2 leaves
    #: the quantised linears out of its gathers too (``finetune.bnb_ignored_by_fsdp2``); (0, 0, False) elsewhere
    bnb_whole: tuple = (0.0, 0.0, False)  # every rank before the last as (dense, expert, blocks) per key (StageSplit; Muon only)
    #: per key, the dense parameters every rank of the TP group holds whole under an HF TP plan that leaves a part
    #: unsplit (moe ``hf_ep_whole_params``); 0 elsewhere (``dense_rank``)
    ep_whole: object = 0.0


def state_context(m: ModelSpec, t: TrainingSpec, st, c: Candidates, gpu, b: StateBytes) -> StateContext:
    """The layout keys, stage parameters, ZeRO tables and weight storage the model-state terms share."""
    frozen, w_b, g_b, master_b = b.frozen, b.weights, b.grads, b.master
    # model states and group counts depend only on (pp, tp, dp, cp, ep, zero): computed once per
    # distinct key and gathered back (a search has millions of rows, a few thousand keys)
    # (vpp too: a mixed MoE model's stages hold the layers of their own virtual stages, memory_stages
    # ``_split_stage_params``)
    # (kept on ``c``: step_time.dp_step_terms asks for the same columns in its own order, ``Candidates.distinct``)
    (kpp, ktp, kdp, kcp, kep, kz, ketp, kdsh, kvpp), sinv = c.distinct(*STATE_KEY)
    ktpf = ktp.astype(np.float64)
    dps = (kdsh * kcp).astype(np.float64)  # ZeRO sharding group (HSDP: dp_shard x cp, else dp x cp)
    # expert grid etp x ep x edp over the stage's tp*cp*dp ranks (Megatron-Core parallel_state), sharded over the
    # shard group's share of it (``hsdp_groups``)
    edps = hsdp_groups(ktpf, kdp, kcp, kep, ketp, kdsh)[1]  # expert data-parallel shard group
    split = key_stage_split(m, t, st, c)  # Muon reads each stage's own blocks (memory_stages ``split_blocks``)
    f_dense, f_exp, l_dense, l_exp, k_layers, largest = split.params()

    # what the gradients and the optimizer state cost at each ZeRO stage (the stack's wrapper: zero_stage_states);
    # a frozen base trains only its adapters (added below), so the paper's rows
    zero_tables = zero_stage_states(st, t, g_b, min(w_b, 2.0)) if not frozen else zero_stage_states(None, t, g_b)
    kzi = np.clip(kz, 0, 3).astype(np.intp)
    w_held, w_end, dw16, ends, lp16 = weight_storage(m, t, st, gpu, b, kz, kpp, kvpp, ktp, ktpf, split.first_rank)
    fsdp2 = bool(getattr(st, "fsdp2_dp", False))
    # FSDP2 with a 16-bit MixedPrecisionPolicy over fp32 parameters (torch _fsdp_param.py: the sharded parameter
    # is the original parameter's dim-0 shard in its own dtype, ``all_gather_inputs`` casts it to ``param_dtype``
    # for each all-gather): at ZeRO-3 the fp32 master *is* the weight shard, no 16-bit copy of it is kept;
    # so with fairscale's FSDP under metaseq's --fp16 / --bf16 (Stack.fsdp_fp32_shard_master, ds52c)
    shard_master = (fsdp2 or st.fsdp_fp32_shard_master) and master_b > 0 and not frozen
    # FSDP under AMP (``weights: amp``): the weight term's autocast copy is FSDP's 16-bit unsharded parameter where
    # FSDP gathers at ``param_dtype`` (FSDP2, or an FSDP1 stack's 16-bit ``param_dtype``, at ZeRO-2/3:
    # ``fsdp_amp_keys``), its fp32 part the shard (state_weights)
    fsdp = (fsdp2 or st.fsdp_zero2_param_dtype) and m.is_transformer
    fsdp_gather_bytes = float(WEIGHT_COPY_BYTES.get((t.precision, t.weights), 0)) if (
        fsdp and not frozen and st.autocasts(t)) else 0.0
    # fp32 training (no ``param_dtype``): FSDP gathers the fp32 parameters themselves beside their shard (fsdp53)
    if fsdp and not frozen and t.precision == "fp32":
        fsdp_gather_bytes = param_gather_bytes(t, w_b)
    if fsdp_frozen_base_gathers(m, t, st, frozen):  # a frozen base under FSDP1 / FSDP2 the same (fsdp52c, mem53)
        fsdp_gather_bytes = fsdp_frozen_gather_bytes(t)

    ds_live = getattr(st, "zero3_max_live_params", None)
    ds_persist = ds_persistent_elems(m, getattr(st, "zero3_persistence_params", 0.0)) if ds_live is not None else 0.0
    mfsdp_unit = mfsdp_unit_params(m, ktpf, ketp, kep) if st.megatron_fsdp else None  # one per call, both stages'
    # a bitsandbytes base under the stack's ZeRO-3 (Stack.bnb_whole_at_zero3): under accelerate's FSDP2 (fsdp_version 2,
    # and every CP > 1 row) the quantised linears whole, under FSDP1 and DeepSpeed their quantisation state
    # (bitsandbytes_layer_bytes)
    bnb_whole = (*bitsandbytes_layer_bytes(m, t, state_only=not bnb_ignored_by_fsdp2(st)), bnb_ignored_by_fsdp2(st)
                 ) if getattr(st, "bnb_whole_at_zero3", False) else (0.0, 0.0, False)
    return StateContext(m, t, st, b, kpp, ktp, kdp, kcp, kep, kz, ketp, kdsh, kvpp, sinv, ktpf, dps, edps, kzi,
                        f_dense, f_exp, l_dense, l_exp, k_layers, largest, split.first_blocks, split.last_blocks,
                        split_blocks(m, t), *zero_tables, w_held, w_end, dw16,
                        *ends, *lp16, fsdp2, shard_master, fsdp_gather_bytes, ds_live, ds_persist, mfsdp_unit,
                        split.before_last, bnb_whole, hf_ep_whole_params(m, st, ktpf, kep, kpp))


def dense_rank(x: StateContext, dense):
    """Dense parameters one rank holds of a stage's ``dense`` (per key): the part its TP plan splits over TP, the
    rest whole -- under an HF EP plan (``StateContext.ep_whole``) the attention it leaves out, the embedding, head,
    norms, routers and shared experts. Until hfep35 all of it over TP: Qwen3-30B-A3B at TP4 EP4 held 0.39B of its
    1.54B unsplit parameters a rank, not 1.54B."""
    return (dense - x.ep_whole) / x.ktpf + x.ep_whole


def weight_storage(m: ModelSpec, t: TrainingSpec, st, gpu, b: StateBytes, kz, kpp, kvpp, ktp, ktpf, first_rank=None):
    """How the weights are stored at each layout key: ``(w_held, w_end, dw16, (ends_f, ends_l, head_f, head_l),
    (lp16_f, lp16_l))`` -- bytes per linear parameter, the extra per pipeline-end parameter, the 16-bit kept layers'
    extra per parameter, the pipeline ends' and head's parameters per TP rank, the kept layers' parameters."""
    frozen, w_b = b.frozen, b.weights
    # how the stack stores FP8-trained weights (Stack.fp8_weight_bytes) where it does at this ZeRO stage
    # (stack_kernels.fp8_weights_as_stored: Megatron-Core's --fp8-param-gather needs sharded parameters and an FP8 recipe)
    # on a part without the transposed FP8 copy (stack_kernels.fp8_linear_weight_bytes) the linears hold less than the
    # stack's figure and the pipeline ends (embedding, head, final norm: 16-bit) keep it: w_end more per end parameter
    stored = np.zeros(np.shape(kz), dtype=bool) if frozen else fp8_weights_as_stored(st, t, kz)
    lin_b = fp8_linear_weight_bytes(st, t, gpu)
    w_held = np.where(stored, lin_b or w_b, w_b) if not frozen else w_b
    if frozen and bitsandbytes_base(t) and fsdp_version(st) == 1:
        w_held = np.where(kz >= 2, fsdp1_bnb_storage_bytes(m, t, st), w_b)
    w_end = np.where(stored, (st.fp8_weight_bytes or w_b) - (lin_b or w_b), 0.0)
    if m.is_transformer:
        v = kvpp == V_SPLIT  # DualPipeV: the head on rank 0 ("first"), pipeline_end_params
        ends_f, ends_l = (np.broadcast_to(x, np.shape(kpp)) / ktpf
                          for x in pipeline_end_params(m, count_params(m), kpp, v))
        pc_ = count_params(m)
        head = (pc_.lm_head + pc_.final_norm + (m.vocab * m.hidden if m.tied_embeddings else 0)) / ktpf
        head_f, head_l = np.where((kpp == 1) | v, head, 0.0), np.where(v & (kpp > 1), 0.0, head)
        if first_rank is not None:  # a "first" past rank 0 (StageSplit.first_rank) holds no embedding
            ends_f = np.where(np.asarray(first_rank) == 0, ends_f, 0.0)
    else:
        ends_f = ends_l = head_f = head_l = np.zeros(np.shape(kpp))

    w16 = w_b  # the precision's weight bytes, before any FP8 storage (w_held)
    # Megatron-Core's 16-bit first / last layers under the fp8/fp4 recipe (Stack.lp_bf16_first_layers,
    # lp_bf16_layers) are built outside the FP8 init context (megatron/core/fp8_utils.py ``get_fp8_context(config,
    # layer_no, is_init=True)``: a nullcontext for ``is_first_last_bf16_layer``), so they hold 16-bit weights, no FP8
    # copy or FP8-stored parameter: w_lp16 - w_held per parameter of the first / last rank's kept layers, each its
    # own (lp16_rank_params: the split the step time paces; a hybrid's kept Mamba block its mixer's parameters).
    # Until 2026-12-04 (fp8keep30) each kept layer held the mean layer's parameters: Nemotron 3 Super's last 14
    # (6 Mamba, 7 MoE and 1 attention block by its pattern) as 14 mean layers
    lp_first, lp_last = (int(getattr(st, k, 0) or 0) for k in ("lp_bf16_first_layers", "lp_bf16_layers"))
    lp16_f = lp16_l = (np.zeros(np.shape(kpp)),) * 2
    if t.precision == "fp8" and m.is_transformer and not frozen and (lp_first or lp_last):
        # (on the rank "first" is: StageSplit.first_rank; until pp16mem38 rank 0's beside the heaviest rank's states)
        fd16, fe16, ld16, le16 = lp16_rank_params(m, kpp, kvpp, lp_first, lp_last, ktp, split_runtime(st, m),
                                                  first_rank)
        lp16_f, lp16_l = (fd16, fe16), (ld16, le16)
    copy = 0 if getattr(st, "casts_weights_per_use", False) else WEIGHT_COPY_BYTES.get((t.precision, t.weights), 0)
    dw16 = (w16 - copy) - w_held  # (w_b already without the copy where the stack casts per use)
    return w_held, w_end, dw16, (ends_f, ends_l, head_f, head_l), (lp16_f, lp16_l)


def _fsdp_held(x: StateContext):
    """``(grads_held, held)``: where the ZeRO-3 / FSDP gradients (grads_held) and weights (held) stay unsharded all
    step.

    ZeRO-3 / FSDP gathers the current layer's weights and prefetches the next one; without
    reshard_after_forward every layer stays gathered from its forward to its backward
    (FSDP SHARD_GRAD_OP: ZeRO-2's weights at the end of the forward)
    Under pipeline parallelism FSDP2 stacks that say so (``Stack.pp_fsdp_unsharded``: torchtitan's
    ``apply_fsdp``, "For PP, do not reshard after forward to avoid per-microbatch all-gathers") keep
    the stage gathered all step, and torch.distributed.pipelining (stage.py ``backward_maybe_with_nosync``:
    ``set_requires_gradient_sync(False)``, ``set_reshard_after_backward(False)`` until the last
    backward) leaves each micro-batch's gradients unsharded, accumulated in the reduce dtype
    (FSDPParam ``to_accumulated_grad_if_needed``: ``unsharded_grad.to(self.reduce_dtype)``) —
    a whole unsharded gradient of the stage at the last backward, before its reduce-scatter
    AutoModel's deferred sync without PP (``Stack.fsdp_defer_sync``) holds the same unsharded gradients, and so
    does its loop's gradient sync on the last micro-batch alone (``Stack.defer_fsdp_grad_sync``:
    ``set_requires_gradient_sync`` without the reshard, so the weights are resharded as ever: ``grads_held``
    without ``held``; memory_per_gpu takes it back at one micro-batch a step)"""
    kz, st = x.kz, x.st
    pp_held = (kz >= 2) & (((x.kpp > 1) & st.pp_fsdp_unsharded) | bool(getattr(st, "fsdp_defer_sync", False)))
    held = (kz >= 3) & ((not st.reshard_after_forward) | pp_held)
    # (a frozen base holds no gradient to accumulate: under FSDP1 the Trainer wraps peft's adapters as units of their
    # own, whose unsharded gradients adapter_states prices, ``fsdp1_adapter_units``; under FSDP2's deferred sync
    # FSDPParamGroup.post_backward keeps an unsharded gradient only of a parameter whose ``unsharded_param.grad`` is
    # not None, and ``FSDPParam.to_accumulated_grad_if_needed`` returns where it is None -- a frozen weight's, always
    # (torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py, _fsdp_param.py). Until scale59 FSDP2 held the whole
    # frozen base's gradient unsharded: Llama-3-70B LoRA under the HF Trainer on 16 H100 at 2 micro-batches a step,
    # 131.5 GiB of gradients where one micro-batch had 0.05; the adapters' own unsharded gradients are left out)
    unsharded = accumulates_unsharded(st) and not x.b.frozen
    grads_held = pp_held | ((kz >= 2) & (x.kpp == 1) & unsharded)
    return grads_held, held


def accumulates_unsharded(st) -> bool:
    """Whether the stack keeps every micro-batch's gradients unsharded until the step's last backward (without PP, at
    ZeRO-2/3, more than one micro-batch a step: ``stage_states`` takes it back at one): NeMo AutoModel's deferred sync
    (``Stack.defer_fsdp_grad_sync``), and torch FSDP1 under the HF Trainer (``Stack.fsdp1_no_sync``): transformers
    5.23 trainer.py runs every micro-batch but a step's last under ``accelerator.no_sync(model)``, FSDP1's
    ``no_sync``, where _runtime_utils.py ``_post_backward_hook`` returns before the reduce-scatter (``if not
    state._sync_gradients``), leaving ``flat_param.grad`` the unit's unsharded gradient in ``param_dtype``
    (``fsdp1_param_bytes``), accumulated into by the next backward: the whole model's at the start of the last
    backward (FULL_SHARD and SHARD_GRAD_OP alike; measured: tests/data/fsdp1_truth.json, every unit's bf16 gradient,
    its unsharded size, after the non-syncing backward and through the next forward). Until fsdp52 FSDP1 was priced
    as syncing each micro-batch: its gradients the fp32 shard alone. A frozen base (LoRA) holds none, its adapters
    their own units' (``fsdp1_adapter_units``; fsdp52b to qlora54b priced the blocks' whole flat gradients)."""
    return bool(getattr(st, "defer_fsdp_grad_sync", False) or getattr(st, "fsdp1_no_sync", False))


def synced_each_microbatch(st):
    """``st`` as it runs at one micro-batch a step: the sync is the last backward's, nothing held unsharded
    (``accumulates_unsharded``)."""
    return dataclasses.replace(st, defer_fsdp_grad_sync=False, fsdp1_no_sync=False)


def ep_experts_unsharded(edps):
    """Where the routed experts are left out of FSDP2 because EP alone places them (an expert data-parallel shard
    group of one rank): NeMo AutoModel's moe/parallelizer.py ``apply_fsdp`` wraps ``moe_module.experts`` on the
    ``ep_shard`` mesh only ``if ep_shard_enabled`` and passes them to the block's ``fully_shard`` as
    ``ignored_params`` under EP, so each rank holds its experts as plain parameters (one storage, no sharded copy)
    and their ``.grad`` as autograd leaves it. Read on the ``params_16bit`` path only (the entry whose rows have it).
    ``edps``: the expert data-parallel shard group's size (memory ``StateContext.edps``, step_time ``_dp_terms``)."""
    return np.asarray(edps) <= 1.0


def held_grad_widths(st, t: TrainingSpec, g_b: float, w_b: float, fsdp2: bool, experts_out) -> tuple:
    """(dense, expert) bytes an element of the gradients a stack holds unsharded between micro-batches takes (memory
    ``state_grads`` where ``_fsdp_held``; step_time ``held_grad_accum_bytes`` prices the pass that adds into them):
    FSDP2 accumulates in its reduce dtype (``g_b``: torch _fsdp_param.py ``to_accumulated_grad_if_needed``,
    ``unsharded_grad.to(self.reduce_dtype)``, then ``accumulate_unsharded_grad_if_needed``'s ``+=``); experts left out
    of FSDP (``experts_out``: ``ep_experts_unsharded``) keep autograd's ``.grad``, in the parameters' dtype (``w_b``,
    16-bit under Stack.params_16bit); FSDP1 under no_sync accumulates in its param_dtype (``accumulates_unsharded``,
    ``fsdp1_param_bytes``)."""
    if getattr(st, "fsdp1_no_sync", False):
        return (fsdp1_param_bytes(t),) * 2
    e_b = np.where(experts_out, w_b, g_b) if (fsdp2 and params_16bit(st, t)) else g_b
    return g_b, e_b


def _mfsdp_gather_bytes(x: StateContext, gather_b) -> tuple:
    """Per key, ``(gathered, built, recomputed)`` bytes an element of Megatron-FSDP's units takes: ``gather_b``
    (``param_gather_bytes``) on every gathered unit, nothing more; over FP8-stored parameters
    (``fp8_weights_as_stored``) ``stack_kernels.mfsdp_fp8_gather_bytes``'s one payload a pass on the window, the
    transpose built for the unit in compute, and MXFP8's row-wise payload re-gathered under full recompute."""
    fp8 = fp8_weights_as_stored(x.st, x.t, x.kz) if not x.b.frozen else False
    by_fp8 = mfsdp_fp8_gather_bytes(x.st, gather_b)
    return tuple(np.where(fp8, f, plain) for f, plain in zip(by_fp8, (gather_b, 0.0, 0.0)))


def _mfsdp_buffers(x: StateContext, d, e):
    """Megatron-FSDP's gathered units and gradient buckets in flight, elements (``mfsdp_buffer_elems``)."""
    return mfsdp_buffer_elems(x.kz, x.mfsdp_unit, np.maximum(MFSDP_BUCKET_MIN, MFSDP_BUCKET_PER_DP * x.dps), d + e,
                              x.st.mfsdp_double_buffer)


def gathered_blocks(st) -> int:
    """Largest blocks a ZeRO-3 rank holds gathered at once where the stack gathers per block: FSDP's block in use and
    the one prefetched (2); a stack whose layers run as one scanned loop gathering inside its body
    (``Stack.scan_gathers``: MaxText) the one in use (1), two where XLA pipelines the backward's gathers across the
    loop's iterations (``Stack.ag_backward_pipelining``). Until maxmem41 (2026-12-05) MaxText held two: GPT-3 175B on
    v6e-256, 3.4 GiB (one gathered bf16 layer) over its chip's 32 GiB."""
    if getattr(st, "scan_gathers", False) and not getattr(st, "ag_backward_pipelining", False):
        return 1
    return 2


def fsdp1_param_bytes(t: TrainingSpec) -> float:
    """Bytes an element of torch FSDP1's unsharded flat parameter, its gradient and its ``_mp_shard`` take: the
    ``MixedPrecision`` ``param_dtype`` accelerate sets from the job's 16-bit precision (utils/dataclasses.py
    ``FullyShardedDataParallelPlugin.set_mixed_precision``: bf16 for bf16 and fp8, fp16 for fp16), else fp32."""
    return 4.0 if t.precision == "fp32" else 2.0


def fsdp1_adapter_units(x: StateContext) -> bool:
    """Whether peft's adapters are FSDP1 units of their own over a frozen base: the HF Trainer (accelerate's
    ``fsdp_version`` 1) calls transformers integrations/fsdp.py ``update_fsdp_plugin_peft`` for every peft model
    under FSDP (trainer.py, before ``accelerator.prepare``), which sets peft utils/other.py ``fsdp_auto_wrap_policy``:
    each trainable leaf (``lora_A`` / ``lora_B``'s ``nn.Linear``) a unit, the decoder layers by ``_no_split_modules``.
    Each block's FlatParameter then holds its frozen elements alone (``requires_grad`` False, no gradient) and each
    adapter unit its own, so under ``no_sync`` the adapters' gradients are held unsharded in ``param_dtype``
    (``fsdp1_param_bytes``, ``adapter_states``) and the base's none, over a 16/32-bit base and a bitsandbytes one
    alike. Measured (tests/test_qlora54b.py: torch 2.13 FSDP1, ``use_orig_params``, bf16 ``param_dtype``, peft's
    policy, fake 4-rank group, a tiny Llama LoRA): over a bf16 base and over an fp32 one, each block 10,304 frozen
    elements and no gradient after a ``no_sync`` backward, 28 adapter units each holding its unsharded bf16
    gradient. fsdp52b to qlora54b priced the blocks' whole flat gradients, frozen elements included (measured under
    the transformer auto-wrap alone, tests/data/fsdp1_truth.json "FULL_SHARD+frozen", which the Trainer does not run
    for a peft model): Llama-3-8B LoRA over an fp32 base, DP 8, 8 micro-batches, 13.08 GiB of gradients for 0.02."""
    return bool(x.b.frozen) and getattr(x.st, "fsdp_version", None) == 1 and x.m.is_transformer


def fsdp1_bnb_storage_bytes(m: ModelSpec, t: TrainingSpec, st) -> float:
    """Bytes a parameter of a bitsandbytes base as the HF Trainer's FSDP1 holds it (accelerate's ``fsdp_version`` 1,
    at ZeRO-2/3, where the Trainer runs FSDP; below it DDP): its unquantised rest (norms, embedding, head) in the
    ``bnb_4bit_quant_storage`` dtype, the ``param_dtype`` transformers' ``update_fsdp_plugin_peft`` sets
    (``fsdp1_param_bytes``), not ``prepare_model_for_kbit_training``'s fp32 (``defaults.QLORA_OTHER_BYTES``). torch
    FSDP1 flattens each block's packed weights (stored as that dtype's elements) and its norms into one FlatParameter,
    which takes one dtype ("Must flatten tensors with uniform dtype": fp32 norms beside bf16 packed weights fail to
    wrap, tests/test_qlora54b.py), and accelerate's FSDP1 upcast to fp32 (accelerator.py ``prepare_model``: "we
    follow DeepSpeed's strategy to hold the parameters in full precision") casts only FlatParameters that require
    grad -- never a frozen block's or the root's under peft's auto-wrap (``fsdp1_adapter_units``). So the run loads
    the model in the storage dtype (``torch_dtype`` = the quant storage, as the FSDP-QLoRA recipes do; TRL skips
    ``prepare_model_for_kbit_training`` for sharded QLoRA). Llama-3.1-70B NF4: the 2.10B rest parameters 8.41 -> 4.21 GB
    on the base, before sharding."""
    return frozen_storage_bytes(m, t, st, rest_b=fsdp1_param_bytes(t)) / count_params(m).total


def fsdp1_layout(st) -> bool:
    """Whether the stack shards with FSDP1's flat parameters at ZeRO-2/3: accelerate's ``fsdp_version`` 1 (the HF
    Trainer), or a stack whose own FSDP keeps that layout (``Stack.fsdp_zero2_param_dtype`` without accelerate's
    versions or FSDP2: llm-foundry's Composer ``prepare_fsdp_module``, torch FSDP1; metaseq's fairscale FSDP)."""
    if getattr(st, "fsdp_versions", ()):
        return st.fsdp_version == 1
    return bool(st.fsdp_zero2_param_dtype and not getattr(st, "fsdp2_dp", False))


def fsdp_frozen_base_gathers(m: ModelSpec, t: TrainingSpec, st, frozen: bool) -> bool:
    """Whether a frozen 16/32-bit base (LoRA, ``PARAM_BYTES``) and its adapters are held as FSDP holds full training's
    weights under AMP (``fsdp_amp_keys``, ``StateContext.fsdp_gather_bytes``: their bytes sharded, their ``param_dtype``
    unsharded parameters, ``fsdp_frozen_gather_bytes``, whole at ZeRO-2): FSDP shards every parameter whether or not
    it requires grad, and without resharding after forward keeps every unit's unsharded parameters from its forward
    to its backward whatever it trains.

    * FSDP1 (``Stack.fsdp_zero2_param_dtype`` without ``fsdp2_dp``: the HF Trainer's ``fsdp_version`` 1, llm-foundry's
      Composer FSDP): torch 2.13 distributed/fsdp/_flat_param.py ``FlatParamHandle.shard`` reads no ``requires_grad``;
      SHARD_GRAD_OP's ``_post_forward_reshard`` frees nothing but the root's (fsdp52c). The adapters are sharded too
      and gathered inside their block's forward and backward: the HF Trainer's as units of their own nested in the
      block (peft's auto-wrap, ``fsdp1_adapter_units``), priced in the block's window; flattened into the block's
      FlatParameter under the transformer auto-wrap alone (mem53; tests/test_mem53.py measures their elements in the
      block's ``_local_shard``).
    * FSDP2 (``fsdp2_dp``: the HF Trainer's default ``fsdp_version`` 2, torchtitan, AutoModel): ``fully_shard`` makes
      every parameter a DTensor shard (torch 2.13 _fully_shard/_fsdp_param.py ``FSDPParam._init_sharded_param``, no
      ``requires_grad`` test) and all-gathers each at ``MixedPrecisionPolicy.param_dtype``; with
      ``reshard_after_forward=False`` (ZeRO-2) ``post_forward`` reshards nothing. Measured (tests/test_mem53.py:
      a Llama-shaped LoRA model, ``fully_shard`` per block and the root, bf16 ``param_dtype``, a fake 4-rank group):
      after a forward under autocast every unit, frozen base and adapters alike, holds its fp32 shard (1.0 B a
      parameter at 4 ranks) and its bf16 unsharded parameters (2.0 B).

    Until fsdp52c (FSDP1) and mem53 (FSDP2) a frozen base at ZeRO-2 was held whole at its own bytes: Llama-3-8B LoRA
    over an fp32 base at DP 8, 30.07 GiB of weights where FSDP holds 4/8 + 2 B a parameter, 18.70 GiB; until mem53
    the adapters whole at 4 B (0.15 GiB there, 0.09 as run). Under fp32 training too (no ``param_dtype``: each
    parameter gathered in its own dtype, ``param_gather_bytes``; measured in tests/test_fsdp53.py: FSDP1 and
    FSDP2 over an fp32 base, 1.0 B of shard and 4.0 B unsharded a parameter at 4 ranks; until fsdp53 the base whole
    at 4 B, 30.07 GiB on Llama-3-8B at DP 8 where FSDP holds 4/8 + 4 B, 33.65). A bitsandbytes base (QLoRA) is not
    measured: left as it was."""
    fsdp = getattr(st, "fsdp2_dp", False) or st.fsdp_zero2_param_dtype
    return bool(frozen) and bool(fsdp) and m.is_transformer and base_weights(t) in PARAM_BYTES


def param_gather_bytes(t: TrainingSpec, own):
    """Bytes an element a ZeRO-3 wrapper all-gathers a parameter stored at ``own`` bytes into (FSDP's unsharded
    parameter beside its shard, DeepSpeed ZeRO-3's live window, Megatron-FSDP's gathered buckets): under 16-bit
    training the 16-bit dtype, never more than ``own``; under fp32 training the parameter's own bytes, since no
    wrapper has a 16-bit dtype to gather into.

    * torch FSDP: the 16-bit ``param_dtype`` (accelerate's ``MixedPrecision`` / ``MixedPrecisionPolicy`` from the
      job's precision, ``fsdp1_param_bytes``; Composer's and torchtitan's bf16); under fp32 none (accelerate's
      ``mixed_precision="no"``: FSDP1 ``mixed_precision=None``, FSDP2 ``param_dtype=None``), so each parameter is
      gathered in its own dtype (torch 2.13 _flat_param.py: ``_full_param_padded`` of ``flat_param.dtype`` without
      ``_uses_param_mixed_precision``; _fully_shard/_fsdp_param.py ``init_all_gather_outputs`` at ``param_dtype or
      orig_dtype``). Measured (tests/test_fsdp53.py, fake 4-rank group, no mixed precision, SHARD_GRAD_OP /
      ``reshard_after_forward=False``): 1.0 B of shard and 4.0 B unsharded a parameter, full training and LoRA.
    * DeepSpeed ZeRO-3: the gathered buffer takes the partition's dtype (deepspeedai/DeepSpeed
      deepspeed/runtime/zero/partition_parameters.py, 2025-26 master as stored: ``all_gather_coalesced`` allocates
      ``param_buffer`` at ``param_ds_tensor.dtype``, ``_all_gather_dtype`` one flat tensor per ``ds_tensor.dtype``),
      the module's dtype, which ``zero.Init`` sets from the config (``_set_dtype``: bf16 under ``bf16.enabled``, fp16
      under ``fp16.enabled``, else ``torch.float``; the engine casts the module to half / bf16 only where those are
      enabled): 4 B a gathered element under fp32 training, 2 B under 16-bit.
    * Megatron-FSDP: ``model_weight_buffer`` -- whose temporary buckets are the gathered units -- is allocated at
      ``group.params[0].dtype`` (uint8 for FP8 parameters), the ``main_weight_buffer`` at fp32 beside it
      (NVIDIA/Megatron-LM megatron/core/distributed/fsdp/src/megatron_fsdp/param_and_grad_buffer.py
      ``ParamAndGradBuffer._init_each_parameter_group_buffers``, commit 367f664e as stored): the model's own
      parameters, bf16 / fp16 under ``--bf16`` / ``--fp16`` with fp32 main params, fp32 under fp32 training.

    Until fsdp53 FSDP's gathered copy under fp32 was priced at 2 B; until zf53 DeepSpeed's window and Megatron-FSDP's
    buffers still were (``min(w, 2)``)."""
    # ``own`` a scalar or per layout key (``StateContext.w_held``: FP8 storage differs by ZeRO stage)
    return own if t.precision == "fp32" else np.minimum(own, fsdp1_param_bytes(t))


def fsdp_frozen_gather_bytes(t: TrainingSpec) -> float:
    """Bytes an element of a frozen base's unsharded parameters under FSDP (``fsdp_frozen_base_gathers``):
    ``param_gather_bytes`` of the base's storage (FSDP1's and FSDP2's 16-bit ``param_dtype`` under 16-bit
    training, the base's own bytes under fp32), also the root unit's and the gathered window's (``state_weights``)."""
    return param_gather_bytes(t, PARAM_BYTES[base_weights(t)])


def fsdp1_mp_shard_bytes(x: StateContext, unit, rows=slice(None)):
    """Per key (or per candidate: ``rows`` = ``x.sinv``), the bytes of ``unit`` elements of a gathered unit (the
    largest block; its adapters, ``adapter_states``) in the 16-bit copy of the rank's fp32 shard torch FSDP1 all-gathers from under a ``MixedPrecision``
    ``param_dtype`` (torch 2.13 distributed/fsdp/_flat_param.py ``FlatParamHandle._use_low_precision_shard``
    allocates ``flat_param._mp_shard`` and casts ``_local_shard`` into it in ``pre_unshard``; ``post_unshard`` frees
    it by ``_free_low_precision_sharded_param`` once the all-gather into ``_full_param_padded`` is issued): one unit's
    at a time, the unit being gathered -- at ZeRO-3 (FULL_SHARD) the pre-backward gather of the last block, where the
    activations peak. Measured (tests/data/fsdp1_truth.json, tests/make_fsdp1_truth.py: tiny Llama, world size 2):
    at each of FULL_SHARD's 10 all-gathers exactly the gathered unit's shard live, 2 B an element of it. Priced on
    every FSDP1 stack (``Stack.fsdp_zero2_param_dtype`` without ``fsdp2_dp``: the HF Trainer's FSDP1, llm-foundry's
    Composer FSDP, ``fsdp``, and metaseq's fairscale FSDP, whose ``_fp16_shard`` is freed after each gather alike,
    ds52b; until fsdp52 not at all) where the 16-bit parameters are gathered per unit (ZeRO-3, not
    held); SHARD_GRAD_OP gathers in the first micro-batch's forward only, before the activations peak. LoRA's
    adapters are flattened into their block's FlatParameter (``fsdp_frozen_base_gathers``), so the block's
    ``_mp_shard`` covers them too: 2/N B of a layer's adapters beside the base's (measured in tests/test_fsdp53.py:
    the gathered block's ``_mp_shard`` numel is its FlatParameter's shard, adapters included; until fsdp53 the
    adapters' part was left out)."""
    if not (x.st.fsdp_zero2_param_dtype and not x.st.fsdp2_dp and x.t.precision != "fp32"):
        return np.zeros(np.shape(unit))
    return np.where(((x.kz >= 3) & ~_fsdp_held(x)[1])[rows], unit / x.dps[rows] * fsdp1_param_bytes(x.t), 0.0)


def fsdp1_base_at_param_dtype(x: StateContext) -> bool:
    """Whether a frozen base's FlatParameters are stored at FSDP1's ``param_dtype`` (``fsdp1_param_bytes``), so that
    torch FSDP1 all-gathers from the shard itself and makes no ``_mp_shard`` (``fsdp1_mp_shard_bytes``): torch 2.13
    _flat_param.py ``FlatParamHandle`` sets ``_uses_param_mixed_precision`` only where ``param_dtype`` differs from the
    FlatParameter's dtype, and accelerate's FSDP1 upcast skips frozen FlatParameters (``fsdp1_bnb_storage_bytes``):
    a bf16 base under 16-bit training, and a bitsandbytes base in its quant storage (``fsdp1_bnb_storage_bytes``).
    Measured (tests/test_qlora54b.py, torch FSDP1 with peft's auto-wrap): over a bf16 base the blocks and the root
    never call ``_use_low_precision_shard``, the fp32 adapter units do; over an fp32 base every unit does. Until
    qlora54b each gather of such a base was priced a 16-bit shard copy too (Llama-3.1-70B QLoRA on 4 A10Gs:
    0.40 GiB, a block's 16-bit shard)."""
    if not (x.b.frozen and getattr(x.st, "fsdp_version", None) == 1):
        return False
    base = base_weights(x.t)
    return bitsandbytes_base(x.t) or (base in PARAM_BYTES and PARAM_BYTES[base] == fsdp1_param_bytes(x.t))


def fsdp_amp_keys(x: StateContext):
    """Per key, where the weight term under AMP is FSDP's fp32 shard and 16-bit gathered parameters
    (``StateContext.fsdp_gather_bytes``) rather than fp32 weights whole beside autocast's copy: ZeRO-2 and ZeRO-3 of an
    FSDP2 stack (``fsdp2_dp``) and of an FSDP1 stack whose mixed-precision policy gathers at the 16-bit type
    (``Stack.fsdp_zero2_param_dtype``: llm-foundry, hf-trainer, fsdp, and metaseq's fairscale FSDP). FSDP1 shards the fp32 FlatParameter whatever
    the strategy (torch/distributed/fsdp/_flat_param.py ``FlatParamHandle.shard``: the rank's chunk kept as
    ``_local_shard``, the rest freed; FULL_SHARD and SHARD_GRAD_OP are both ``uses_sharded_strategy``). The 16-bit
    shard it casts that chunk into for each all-gather (``_use_low_precision_shard``: ``_mp_shard``) is freed once
    the gather is issued (``FlatParamHandle.post_unshard`` -> ``_free_low_precision_sharded_param``), so a rank
    holds 4/N B a parameter and the 16-bit unsharded parameters (``_full_param_padded``) of the units gathered:
    under FULL_SHARD the block in use and the one prefetched (``state_weights``' window), under SHARD_GRAD_OP, which
    differs only in not resharding after forward (_runtime_utils.py ``_post_forward_reshard``:
    ``free_unsharded_flat_param = not state._is_root and handle._sharding_strategy in
    RESHARD_AFTER_FORWARD_HANDLE_STRATEGIES``), every unit from its forward until its post-backward frees it
    (``_should_free_in_backward``) -- at the end of the forward the whole model, 2 B a parameter. accelerate maps
    ZeRO-2 to SHARD_GRAD_OP and ZeRO-3 to FULL_SHARD (``fsdp_sharding_strategy``); Composer (llm-foundry) runs
    ``FULL_SHARD`` under its DEFAULT / PURE ``MixedPrecision`` (``param_dtype`` bf16). Measured on torch 2.13's
    FSDP1 (tests/test_dsamp52.py, a fake 4-rank group): after a forward under autocast, FULL_SHARD holds 1.0 B of
    ``_local_shard`` a parameter (4/4), no ``_mp_shard`` and no gathered unit; SHARD_GRAD_OP the same shard and
    2.0 B of ``_full_param_padded``. Until z2f51 FSDP1's ZeRO-2 held the fp32 weights whole (Llama-3.1-8B on
    hf-trainer, DP 8, 44.87 GiB of weights: 4 + 2 B a parameter); until dsamp52 its ZeRO-3 held (4 + 2)/N B a
    parameter where the stack is not walked (llm-foundry, Llama-3-8B on 8 H100s under ``amp_bf16``: 6.42 GiB of
    weights a GPU where the FSDP1 code holds 4.55, as hf-trainer's walked plan already priced). DeepSpeed's ZeRO-2
    keeps its parameters whole and shards the fp32 master (``zero_stage_states``): not an FSDP stack, not this rule.
    Until ds52b metaseq (fairscale's FSDP under ``mixed_precision``, the same layout: ``Stack.fsdp_zero2_param_dtype``)
    held (4 + 2)/N B a parameter at ZeRO-3 and 4 + 2 B whole at ZeRO-2 (Llama-3-8B, 8 ranks under AMP: 6.42 / 44.87 GiB
    of weights where fairscale holds 4.55 / 18.70)."""
    return x.kz >= 2


def bnb_gather_widths(x: StateContext, gather_b):
    """(a block's, the root unit's) bytes a gathered element: ``gather_b`` both, except over a bitsandbytes base, whose
    blocks gather their packed weights (none where FSDP2 leaves them out) and 16-bit rest
    (``finetune.bitsandbytes_gather_bytes``) and whose root unit (embedding, norm, head: unquantised) the 16-bit
    width. Until qlora54 both at the base's mean stored bytes (Llama-3.1-70B QLoRA: 0.62 B; under FSDP2 the root's
    2.10B parameters 1.38 B short an element)."""
    if not (x.b.frozen and bitsandbytes_base(x.t)):
        return gather_b, gather_b
    root = param_gather_bytes(x.t, QLORA_OTHER_BYTES)
    return bitsandbytes_gather_bytes(x.m, x.t, x.bnb_whole[2], root, blocks=True), root


def _whole_weights(x: StateContext, params, ends, w_b):
    """Bytes of a stage's ``params`` held whole (ZeRO < 3, or held gathered: no reshard after forward) at ``w_b``
    bytes each; where torchtitan's FSDP2 float8 all-gather runs (stack_kernels ``fsdp_float8_gather_on``) the
    blocks' float8 linears are the 1-B gathered ones (torchao ``WeightWithDynamicFloat8CastTensor.fsdp_post_all_gather``
    returns a float8 tensor) and the embedding and head (``ends``, outside torchao's filter) keep their width."""
    f8 = fsdp_float8_gather_on(x.st, x.t, x.kz)
    return np.where(f8, np.minimum(w_b, FP8_PAYLOAD_BYTES) * (params - ends) + w_b * ends, params * w_b)


def _gather_widths(x: StateContext, w_b) -> tuple:
    """(a gathered block element's, the root unit's) bytes: the 16-bit dtype under 16-bit training, the parameter's
    own under fp32, whichever wrapper gathers (``param_gather_bytes``; until fsdp53 2 B on every stack, until zf53 on
    all but FSDP's), a bitsandbytes base's apart (``bnb_gather_widths``); under torchtitan's FSDP2 float8 all-gather
    (stack_kernels ``fsdp_float8_gather_on``) the blocks' float8 linears at 1 B, torchao's
    ``fsdp_post_all_gather`` output, the root unit's embedding and head still 16-bit (fsdp8)."""
    gather_b, root_gb = bnb_gather_widths(x, param_gather_bytes(x.t, w_b))
    f8 = fsdp_float8_gather_on(x.st, x.t, x.kz)
    return np.where(f8, np.minimum(gather_b, FP8_PAYLOAD_BYTES), gather_b), root_gb


def state_weights(x: StateContext, dense, expert, w_b=None, ends=0.0, head=0.0, p16=(0.0, 0.0)):
    """Weight bytes of a stage holding ``dense`` / ``expert`` parameters (per candidate, ``[sinv]``) at ``w_b``
    bytes each (default ``w_held``): sharded at ZeRO-3 (Rajbhandari et al. 2020), whole where held (``_fsdp_held``),
    the 16-bit kept layers' extra, and the gathered window (Megatron-FSDP's units, DeepSpeed ZeRO-3's live window,
    FSDP's block in use and the one prefetched, FSDP2's root unit)."""
    kz, dps, edps, m, st = x.kz, x.dps, x.edps, x.m, x.st
    w_b = x.w_held if w_b is None else w_b
    d = dense_rank(x, dense)
    e = expert / (x.ketp * x.kep)
    whole = _whole_weights(x, d + e, ends, w_b)
    weights = (np.where(kz >= 3, (d / dps + e / edps) * (0.0 if x.shard_master else 1.0) * w_b, whole)
               + np.where(kz >= 3, ends / dps, ends) * x.w_end)
    held = _fsdp_held(x)[1]
    # FSDP2 over 16-bit parameters (Stack.params_16bit): the gathered parameters beside the rank's own 16-bit shard
    # (torch _fsdp_param.py: ``_sharded_param_data`` and the all-gather output are separate storages), which no fp32
    # master stands in for; experts EP owns whole (one expert-shard rank, ``ep_experts_unsharded``) are one tensor
    own = ((d / dps + np.where(ep_experts_unsharded(x.edps), 0.0, e / edps)) * w_b
           if (x.fsdp2 and params_16bit(x.st, x.t)) else 0.0)
    weights = np.where(held, whole + ends * x.w_end + own, weights)
    # the quantised linears FSDP2 does not shard (Stack.bnb_whole_at_zero3: accelerate's ignored_params), FSDP1's
    # quantisation state: whole where the rest of the stage is sharded. Until hfstack34 QLoRA at CP > 1 on the HF
    # Trainer held 1/(dp x cp) of them; until qlora54 at CP 1 too (FSDP2), and FSDP1's state sharded
    share, q_b, _ = x.bnb_whole
    weights = weights + np.where((kz >= 3) & ~held, (d + e) * share * q_b * (1.0 - 1.0 / dps), 0.0)
    if x.fsdp_gather_bytes:
        # FSDP under AMP where it gathers at param_dtype (``fsdp_amp_keys``): the fp32 parameters are the sharded
        # ones and autocast makes no copy (Stack.autocast_finds_fp32); the 16-bit unsharded parameters (the
        # all-gather outputs, ``param_dtype``) are whole where the stage stays gathered (ZeRO-2: no reshard after
        # forward; ``_fsdp_held``), else the gathered window below. Llama-3-8B, torchtitan, dp 64, ZeRO-2: 4/64 + 2 B
        # a parameter, 15.4 GiB (was 6 B whole, 44.9 GiB: DDP's fp32 weights and autocast's copy). Under fp32
        # training (no param_dtype) the gathered parameters are fp32 too: 4/N + 4 B at ZeRO-2 (fsdp53)
        c = x.fsdp_gather_bytes
        # the shard is the stored parameter: the weights less autocast's copy (AMP: 4 of 6 B; fp32: all 4 B); a frozen
        # base's bytes are its storage alone, no autocast copy in them (``fsdp_frozen_base_gathers``)
        stored = w_b if x.b.frozen else w_b - WEIGHT_COPY_BYTES.get((x.t.precision, x.t.weights), 0)
        fsdp = (d / dps + e / edps) * stored + np.where((kz == 2) | held, (d + e) * c, 0.0)
        weights = np.where(fsdp_amp_keys(x), fsdp, weights)
    d16, e16 = p16[0] / x.ktpf, p16[1] / (x.ketp * x.kep)  # the rank's 16-bit layers' parameters
    weights = weights + np.where((kz >= 3) & ~held, d16 / dps + e16 / edps, d16 + e16) * x.dw16
    gather_b, root_gb = _gather_widths(x, w_b)
    if st.megatron_fsdp:  # Megatron-FSDP's gathered units, the FP8 copy built for the unit in compute
        gathered, built, _ = _mfsdp_gather_bytes(x, gather_b)
        unit = np.where(kz >= 3, np.minimum(x.mfsdp_unit, d + e), 0.0)
        return (weights + _mfsdp_buffers(x, d, e)[0] * gathered + unit * built)[x.sinv]
    if x.ds_live is not None and m.is_transformer:  # DeepSpeed ZeRO-3: its prefetch window, and persistent params whole
        gathered = ds_zero3_live_elems(d + e, largest_param_elems(m, x.ktpf), x.ds_live)
        gathered = gathered + x.ds_persist * (1.0 - 1.0 / dps)
    else:  # FSDP: the block in use and the one prefetched; a scanned stack's one (``gathered_blocks``)
        gathered = gathered_blocks(st) * x.largest
    weights = weights + np.where((kz >= 3) & ~held, gathered * gather_b, 0.0)
    weights = weights + (0.0 if fsdp1_base_at_param_dtype(x) else fsdp1_mp_shard_bytes(x, x.largest))
    fsdp1 = fsdp1_layout(st)
    if m.is_transformer and (x.fsdp2 or fsdp1):  # the unit outside the blocks (Stack.fsdp2_root)
        # 16-bit, never float8, under FSDP2 (fp32 under fp32 training); torch FSDP1's at its param_dtype
        # (fsdp2_root_gather_params)
        root_b = fsdp1_param_bytes(x.t) if fsdp1 else root_gb
        weights = weights + np.where((kz >= 3) & ~held, fsdp2_root_gather_params(
            st.fsdp2_root, ends, head, x.largest, m.moe is not None) * root_b, 0.0)
    return weights[x.sinv]


def _unsharded_grad_bytes(x: StateContext, d, e) -> tuple:
    """(bytes, FSDP's reduce bytes per element) of the stage's gradients held unsharded where ``_fsdp_held`` holds
    them, ``d`` dense and ``e`` expert parameters a rank, each at its width (``held_grad_widths``; the reduce dtype:
    accelerate's mixed precision, hfrs56)."""
    r_b = fsdp_reduce_bytes(x.st, x.t.precision, x.b.grads)
    d_b, e_b = held_grad_widths(x.st, x.t, r_b, x.b.weights, x.fsdp2, ep_experts_unsharded(x.edps))
    return d * d_b + e * e_b, r_b


def pp_accumulator_bytes(x: StateContext, dense, expert):
    """Per candidate (``[sinv]``), a stage's FSDP2 gradient accumulators that torch.distributed.pipelining makes per
    model chunk (``Stack.pp_fsdp_unsharded`` at pp > 1: ``_fsdp_held``'s unsharded gradients, one set a chunk, born at
    the chunk's first backward and freed at its last, memory_stages ``pp_accumulators_apart``); 0 elsewhere."""
    held = _fsdp_held(x)[0] & (x.kpp > 1) & bool(getattr(x.st, "pp_fsdp_unsharded", False))
    if not np.any(held):
        return np.zeros(len(x.sinv))
    return np.where(held, _unsharded_grad_bytes(x, dense_rank(x, dense), expert / (x.ketp * x.kep))[0], 0.0)[x.sinv]


def state_grads(x: StateContext, dense, expert):
    """Gradient bytes of a stage (per candidate, ``[sinv]``): the ZeRO stage's whole, sharded and bucket bytes
    (``zero_stage_states``) and its buffer of the rank's largest parameter (``largest_param_elems``: DeepSpeed's
    ``temp_grad_buffer_for_gpu_offload``), whole where FSDP holds them unsharded (``_fsdp_held``), Megatron-FSDP's
    gradient buckets, FSDP2's unsharded gradient and reduce-scatter input (``fsdp2_reduce_buffer_bytes``). A frozen
    base's blocks under FSDP1 hold none (``fsdp1_adapter_units``)."""
    kz, kzi, g_b = x.kz, x.kzi, x.b.grads
    d = dense_rank(x, dense)
    e = expert / (x.ketp * x.kep)
    grads = (d + e) * x.g_whole[kzi] + (d / x.dps + e / x.edps) * x.g_shard[kzi] + x.g_bucket[kzi]
    if x.m.is_transformer and np.any(x.g_largest):
        grads = grads + x.g_largest[kzi] * largest_param_elems(x.m, x.ktpf)
    unsharded, r_b = _unsharded_grad_bytes(x, d, e)
    grads = np.where(_fsdp_held(x)[0], unsharded, grads)
    if x.st.megatron_fsdp:
        return (grads + _mfsdp_buffers(x, d, e)[1] * g_b)[x.sinv]
    if x.fsdp2 and not x.b.frozen:  # the unsharded gradient and the reduce-scatter input of the units in backward
        grads = grads + np.where(kz >= 2, fsdp2_reduce_buffer_bytes(x.largest, x.b.act, r_b), 0.0)
    return grads[x.sinv]


def state_optimizer(x: StateContext, dense, expert, blocks=None):
    """Master + optimizer-state bytes of a stage (per candidate, ``[sinv]``), sharded where the ZeRO stage shards
    them (``zero_stage_states``); Muon's differ between its matrices and AdamW's rest (``optimizers.state_bytes``, from
    the ``blocks`` the stage holds)."""
    d = dense_rank(x, dense)
    e = expert / (x.ketp * x.kep)
    b = x.b
    # bytes per parameter of master + state; Muon's differ between its matrices and AdamW's rest
    od, oe = (optimizers.state_bytes(x.m, dense, expert, blocks, b.master + b.optimizer,
                                     b.master + OPTIMIZER_STATE["adamw"]) if x.muon else (b.master + b.optimizer,) * 2)
    om = x.o_master[x.kzi]  # DeepSpeed's fp32 master partition beside an fp32 module (zero_stage_states)
    od, oe = od + om, oe + om
    optim = np.where(x.o_shard[x.kzi], d / x.dps * od + e / x.edps * oe, d * od + e * oe)
    return optim[x.sinv]


@dataclasses.dataclass(frozen=True, slots=True)
class StageStates:
    """The model states of the first (``f*``) and the last (``l*``) pipeline stage, bytes per GPU per candidate:
    weights, gradients, optimizer (master + moments), and what is offloaded to host RAM (``host_accum_*``: the host
    buffers held only with gradient accumulation, ``optimizer_offload``)."""
    fw: object
    lw: object
    fg: object
    lg: object
    fo: object
    lo: object
    host_f: object = 0.0
    host_l: object = 0.0
    host_accum_f: object = 0.0
    host_accum_l: object = 0.0
    #: what DeepSpeed ZeRO-Infinity swaps to the node's local NVMe (``Stack.offload_device``: ``nvme_offload``)
    nvme_f: object = 0.0
    nvme_l: object = 0.0


def muon_heaviest_stage(x: StateContext) -> StateContext:
    """Under Muon, "first" (the stage before the last whose states are priced) is the one whose weights, gradients
    and optimizer state are largest per GPU, its optimizer bytes from its own blocks. memory_stages ``stage_split``
    picks the heaviest by parameters, which is the heaviest by bytes where every parameter costs the same (AdamW), but
    Muon's matrices keep one fp32 momentum where AdamW's rest (the embedding, norms) keep two
    (``optimizers.state_bytes``): DeepSeek-V3 on PP16 at TP1 EP32 has 2.34B parameters a GPU on stages 1-14 (18.7 GB of
    Muon state) and 2.09B on stage 0, the embedding's 0.93B under AdamW (20.5 GB); until small32 stage 0's optimizer
    went uncharged. Each stage's extra terms (the pipeline ends, the kept 16-bit layers) are the old "first"'s,
    whichever is picked; ties keep it. Where the split is not counted stage by stage (``before_last`` empty: every stage
    priced at the ends' ceil(L / pp) layers), nothing changes."""
    if not x.muon or not x.before_last:
        return x
    xk = dataclasses.replace(x, sinv=np.arange(len(x.kpp)))  # the terms per key, not per candidate
    stages = ((x.f_dense, x.f_exp, x.first_blocks), *x.before_last)  # the old "first" wins ties (argmax: the lowest)
    totals = [state_weights(xk, d, e, ends=x.ends_f, head=x.head_f, p16=x.lp16_f) + state_grads(xk, d, e)
              + state_optimizer(xk, d, e, blocks) for d, e, blocks in stages]
    j = np.argmax(np.stack(totals), axis=0)
    pick = lambda arrays: np.take_along_axis(np.stack(np.broadcast_arrays(*arrays, j)[:-1]), j[None], 0)[0]  # noqa: E731
    kinds = set().union(*(blocks for _, _, blocks in stages))
    blocks = {k: pick([b.get(k, 0.0) for _, _, b in stages]) for k in kinds}
    return dataclasses.replace(x, f_dense=pick([d for d, _, _ in stages]), f_exp=pick([e for _, e, _ in stages]),
                               first_blocks=blocks)


def model_states(x: StateContext) -> StageStates:
    """Weights, gradients and optimizer states of the first and the last stage (``state_weights``,
    ``state_grads``, ``state_optimizer``): the first with the embedding's end, the last with the head's."""
    fw = state_weights(x, x.f_dense, x.f_exp, ends=x.ends_f, head=x.head_f, p16=x.lp16_f)
    lw = state_weights(x, x.l_dense, x.l_exp, ends=x.ends_l, head=x.head_l, p16=x.lp16_l)
    fg, lg = state_grads(x, x.f_dense, x.f_exp), state_grads(x, x.l_dense, x.l_exp)
    fo = state_optimizer(x, x.f_dense, x.f_exp, x.first_blocks)
    lo = state_optimizer(x, x.l_dense, x.l_exp, x.last_blocks)
    return StageStates(fw, lw, fg, lg, fo, lo)


def fsdp2_head_buffers(x: StateContext, n: int) -> list:
    """FSDP2's unit holding the LM head (Stack.fsdp2_root) reduced like the blocks: what its buffers add beyond a
    layer's, on the stage(s) holding the head (first, last); charged in ``memory_per_gpu`` against the loss
    transient it never coexists with."""
    fsdp2_head = [np.zeros(n)] * 2
    if x.fsdp2 and not x.b.frozen and x.m.is_transformer:
        r_b = fsdp_reduce_bytes(x.st, x.t.precision, x.b.grads)  # (as state_grads': the stack's reduce dtype)
        layer_buf = fsdp2_reduce_buffer_bytes(x.largest, x.b.act, r_b)
        fsdp2_head = [np.where(x.kz >= 2, fsdp2_reduce_buffer_bytes(x.largest, x.b.act, r_b, h, x.st.fsdp2_root,
                                                                    x.m.moe is not None) - layer_buf, 0.0)[x.sinv]
                      for h in (x.head_f, x.head_l)]
    return fsdp2_head


def autograd_grads(x: StateContext, s: StageStates, c: Candidates, walked, hf) -> StageStates:
    """The 16-bit ``.grad`` tensors a stack's wrapper leaves whole (``zero_stage_states``; none under the paper's
    convention, whose buffer is the gradient term): in the gradient term, except where the walk holds them; where
    walked, the AMP copies leave the weight term and HF Trainer's single process holds no reducer buckets."""
    fw, lw, fg, lg = s.fw, s.lw, s.fg, s.lg
    kept_grads = [((dense_rank(x, dense) + expert / (x.ketp * x.kep)) * x.g_autograd[x.kzi])[x.sinv]
                  for dense, expert in ((x.f_dense, x.f_exp), (x.l_dense, x.l_exp))]
    fg, lg = (g + (k if walked is None else np.where(walked, 0.0, k)) for g, k in zip((fg, lg), kept_grads))
    if walked is not None and hf == "amp_bf16":
        # the AMP convention's +2 bytes/param (autocast's bf16 copies) leave the weight term: the
        # walk holds the copies as autocast caches them (on an fp32 stream) or there are none (ZeRO-3). Where FSDP1
        # gathers bf16 weights and keeps them unsharded from the forward to the backward (SHARD_GRAD_OP: the HF
        # Trainer's ZeRO-2, Stack.autocast_finds_fp32 False below ZeRO-3) the walk runs the bf16 table
        # (activations_hf ``hf_table_precision``), which has no copies: the +2 stays, FSDP's flat bf16 parameter
        # (hffsdp47; until then the walk's autocast copies of the linears stood for it)
        # FSDP under AMP at ZeRO-2/3 (``fsdp_gather_bytes``: FSDP2, accelerate's fsdp_version 2, fsdp2hf51; FSDP1's
        # FULL_SHARD too since dsamp52) has no copy in its weight term to drop: ``state_weights`` holds the fp32 shard
        # and the bf16 all-gather outputs already
        zero = np.asarray(c.zero)
        gathered = (zero < 3) & ~np.broadcast_to(x.st.autocast_finds_fp32(zero), zero.shape)
        drop = walked & ~gathered & ~((zero >= 2) & bool(x.fsdp_gather_bytes))
        fw = np.where(drop, state_weights(x, x.f_dense, x.f_exp, x.b.weights - 2.0), fw)
        lw = np.where(drop, state_weights(x, x.l_dense, x.l_exp, x.b.weights - 2.0), lw)
    if walked is not None and x.st.name == "hf-trainer":
        # one process, no sharding: no DistributedDataParallel wrapper (transformers Trainer
        # ``_wrap_model`` wraps in DDP only ``if self.args.local_rank != -1``; accelerate's
        # ``prepare_model`` only under a multi-process DistributedType), so no reducer buckets: the
        # gradients are autograd's ``.grad`` tensors alone, which the walk holds (_hf_walk_arrays).
        # DeepSpeed's engine keeps its own gradient buffers at any world size: not this rule
        solo = walked & (c.zero == 0) & (c.dp * c.tp * c.cp == 1)
        fg, lg = np.where(solo, 0.0, fg), np.where(solo, 0.0, lg)
    return dataclasses.replace(s, fw=fw, lw=lw, fg=fg, lg=lg)


def adapter_states(x: StateContext, s: StageStates, layers, tp, synced=False) -> StageStates:
    """lora/qlora: fp32 adapters, their fp32 gradients and optimizer state, split like the layers
    (finetune.adapter_params, ``ADAPTER_BYTES``), and sharded over the ZeRO group as the stage shards any trainable
    parameter's (Rajbhandari et al. 2020): the optimizer state from ZeRO-1, the gradients from ZeRO-2, the adapters
    themselves at ZeRO-3 (FSDP's flat parameters hold them beside the frozen base, ``use_orig_params``). Until QA 43
    they were whole on every rank: QLoRA Llama-3.1-70B at DP8 ZeRO-3 held 2.31 GiB of adapter state per GPU, not 0.29.
    Under FSDP1's ``no_sync`` (``fsdp1_adapter_units``: the adapters units of their own; not on the ``synced`` rows,
    one micro-batch a step) the adapters' gradients are held unsharded in ``param_dtype``. Under FSDP over a 16/32-bit base (``fsdp_frozen_base_gathers``) the adapters are sharded from
    ZeRO-2 and gathered at ``param_dtype`` with their block: whole at ZeRO-2 (and where held), the gathered blocks'
    (``gathered_blocks``) at ZeRO-3, and under FSDP1 at ZeRO-3 the 16-bit ``_mp_shard`` of a layer's adapters
    (``fsdp1_mp_shard_bytes``, fsdp53); until mem53 4 B whole at ZeRO-2 (Llama-3-8B r16 all-linear, DP 8: 0.15 GiB
    where FSDP holds 4/8 + 2 B, 0.09). Under fp32 training the adapters are gathered at their own 4 B
    (``param_gather_bytes``; until fsdp53 at the base's gather bytes)."""
    total = adapter_params(x.m, x.t)
    # the adapters of what an HF TP plan leaves whole (moe HF_TP_PLANS: DeepSeek-V3's attention, gpt-oss's) are whole
    # on every TP rank, at every EP (transformers 5.23 keeps the TP plan on all but the experts); until hfep52 an older
    # revision's EP plan left the attention, routers and shared experts' whole at EP > 1 (hfep35), over TP before
    tplan = hf_tp_plan(x.m, x.st)
    held = np.asarray(x.ep_whole)[x.sinv] > 0
    whole = (adapter_whole_params(x.m, x.t, tplan.attention, tplan.dense_mlp, moe_split=True) * held
             if tplan is not None else 0.0)
    ad = ((total - whole) / tp + whole) * layers / x.m.layers
    kz, dps = x.kz[x.sinv], x.dps[x.sinv]
    if x.st is not None and x.st.casts_adapters(x.t):
        # the engine casts peft's adapters with the module (Stack.casts_adapters, DeepSpeed's bf16 engine): 16-bit
        # weights, and the gradients and fp32 master + state its optimizer wrapper keeps for any trained parameter
        # (zero_stage_states: ZERO_STATES' rows, BF16_Optimizer's fp32 accumulation at ZeRO-0, the 16-bit partition
        # from ZeRO-2); until lorads50 fp32 weights and gradients and no master (Llama-3-8B LoRA r16 all-linear,
        # ZeRO-1 at DP 8: 4 + 4 + 8/8 -> 2 + 2 + 12/8 B an adapter parameter)
        b16 = adapter_bytes_on(x.t, x.st)
        acc, shard, sharded, _, _, g16, _, _ = (np.asarray(a)[np.clip(kz, 0, 3).astype(np.intp)]
                                            for a in zero_stage_states(x.st, x.t, b16, b16))
        w = ad * b16 / np.where(kz >= 3, dps, 1.0)
        g = ad * (acc + g16 + shard / dps)
        o = ad * x.b.state / np.where(sharded, dps, 1.0)  # the master and the moments (StateBytes.state)
    else:
        w = ad * ADAPTER_BYTES / np.where(kz >= 3, dps, 1.0)
        if x.fsdp_gather_bytes:  # FSDP shards the adapters with their block, gathered at param_dtype (fsdp_frozen_base_gathers)
            held = (kz == 2) | _fsdp_held(x)[1][x.sinv]
            layer = ad / np.maximum(layers, 1)
            window = gathered_blocks(x.st) * layer  # the gathered blocks' adapters at ZeRO-3
            # (fp32 training: the fp32 adapters gathered as they are, param_gather_bytes)
            w = ad * ADAPTER_BYTES / np.where(kz >= 2, dps, 1.0) + np.where(
                held, ad, np.where(kz >= 3, window, 0.0)) * param_gather_bytes(x.t, ADAPTER_BYTES)
            # FSDP1's 16-bit shard of the block being gathered covers its adapters too (fsdp1_mp_shard_bytes)
            w = w + fsdp1_mp_shard_bytes(x, layer, x.sinv)
        g = ad * ADAPTER_BYTES / np.where(kz >= 2, dps, 1.0)
        if fsdp1_adapter_units(x) and getattr(x.st, "fsdp1_no_sync", False):  # no_sync: each unit's unsharded grad
            g = np.where((kz >= 2) & ~np.asarray(synced), ad * fsdp1_param_bytes(x.t), g)
        o = ad * x.b.adapter_optimizer / np.where(kz >= 1, dps, 1.0)
    return StageStates(s.fw + w, s.lw + w, s.fg + g, s.lg + g, s.fo + o, s.lo + o, s.host_f, s.host_l)


def comm_groups(x: StateContext):
    """Process groups of size > 1 per candidate (each with ``NCCL_BYTES_PER_GROUP``); HSDP: the replica group's
    communicator too."""
    groups = sum((g > 1).astype(np.float64) for g in (x.ktp, x.kpp, x.kdp, x.kcp, x.kep))
    return (groups + (x.kdsh < x.kdp))[x.sinv]  # HSDP: the replica group's communicator too


def moe_comm_buffers(m: ModelSpec, st, c: Candidates, seq):
    """Bytes per GPU of the MoE token dispatcher's own communication buffers (``moe.dispatcher_buffer_bytes``:
    DeepEP's NVLink + RDMA buffers, HybridEP's, sized for the rank's first micro-batch of ``mb x seq / (cp x tp)``
    tokens), allocated once outside PyTorch's allocator and held all step; 0 for the all-to-all dispatcher, a dense
    model or one EP x ETP rank. Until 2026-12-05 not counted: DeepSeek-V3 at EP 64 under DeepEP read 0.73 GiB less
    (QA 51). Each row under its own dispatcher (layout.Candidates ``dispatcher``: a search's twins in one call)."""
    disp = c.dispatcher_codes(getattr(st, "moe_dispatcher", "alltoall"))
    if m.moe is None or (disp == MOE_DISPATCHER.code["alltoall"]).all():
        return np.zeros(len(c))
    tokens = c.mb * seq / (c.cp * c.tp)  # the rank's sequence-parallel share entering the dispatch
    return per_dispatcher(st, disp, lambda d: (
        dispatcher_buffer_bytes(d, m.expert_io, m.moe.experts, tokens, c.ep, c.etp, c.gpus_per_node),))[0]


def offload_host_rows(x: StateContext) -> tuple:
    """(host bytes per offloaded parameter always held, those held only with gradient accumulation) per candidate:
    the optimizer wrapper's own host buffers at the candidate's ZeRO stage (``stacks.ZeroStageStates``
    ``host_bit16_bytes`` / ``host_accum_bytes``, DeepSpeed's, read from stage_1_and_2.py there) in the module's bytes
    (``stacks.offload_zero_rows``: fp32 under DeepSpeed's torch_autocast section); 0 for a stack without a ZeRO
    table."""
    from planner.model.stacks import offload_zero_rows

    wrapper = offload_zero_rows(x.st, x.t)
    if wrapper is None:
        return 0.0, 0.0
    return tuple(np.array([getattr(r, k) if r else 0.0 for r in wrapper[0]])[x.kzi][x.sinv]
                 for k in ("host_bit16_bytes", "host_accum_bytes"))


def optimizer_offload(x: StateContext, s: StageStates) -> StageStates:
    """Master + moments move to host RAM (model.offload) with the wrapper's host buffers (``offload_host_rows``); under
    a frozen base, the adapters' state (fp32 adapters keep no master: their optimizer state alone, added by
    ``adapter_states``)."""
    st, b = x.st, x.b
    if not (st.optimizer_offload and b.state > 0):
        return s
    fw, lw, fo, lo = s.fw, s.lw, s.fo, s.lo
    # (16-bit adapters, Stack.casts_adapters: their fp32 master too, as adapter_states charged it)
    state = b.adapter_optimizer if b.frozen and not st.casts_adapters(x.t) else b.state
    # DeepSpeed's fp32 master partition beside an fp32 module (``zero_stage_states``' eighth array) moves with the
    # state (stage_1_and_2.py clones it ``to(device=self.device)``, the host under cpu_offload; until ds52c the paper's
    # rows priced none)
    state = state + x.o_master[x.kzi][x.sinv]
    bit16, accum = offload_host_rows(x)
    # FSDP2's host gradient is the reduced shard in the sharded parameter's dtype (torch _fsdp_collectives.py
    # ``foreach_reduce``: ``_to_dtype_if_needed(reduce_output, orig_dtype)`` before ``.to(torch.device("cpu"))``), the
    # ZeRO-2/3 shard bytes ``zero_stage_states`` gives (2 B for 16-bit parameters; until ds47 counted 4 B); fp32 adapters
    # and the other stacks' fp32 copy keep ``offload.HOST_GRAD_BYTES``
    grad = (np.where(x.kz >= 2, x.g_shard[x.kzi], offload.HOST_GRAD_BYTES)[x.sinv] if x.fsdp2 and not b.frozen
            else offload.HOST_GRAD_BYTES)
    host_f, host_l = (offload.host_optimizer_bytes(o, state, bit16, grad) for o in (fo, lo))
    acc_f, acc_l = (offload.offloaded_params(o, state) * accum for o in (fo, lo))
    nvme_f = nvme_l = 0.0
    if offload.nvme_swaps(st, "optimizer"):  # ZeRO-Infinity: state and gradient swapped, pinned buffers held
        (nvme_f, buf_f), (nvme_l, buf_l) = (offload.nvme_optimizer_split(offload.offloaded_params(o, state), state,
                                                                          grad) for o in (fo, lo))
        host_f, host_l = host_f - nvme_f + buf_f, host_l - nvme_l + buf_l
    fo, lo = fo * 0.0, lo * 0.0
    if b.frozen and x.fsdp2:
        # FSDP2 CPUOffloadPolicy moves every parameter's shard to the host, the frozen base's too (torch
        # _fsdp_param.py ``_init_sharded_param``: ``padded_sharded_param.cpu()`` under ``offload_to_cpu``,
        # whatever ``requires_grad``): at ZeRO-3 its stored shard leaves the weight term for the host
        base_f, base_l = (np.where(x.kz >= 3, (dd / x.ktpf / x.dps + ee / (x.ketp * x.kep) / x.edps) * b.weights,
                                   0.0)[x.sinv] for dd, ee in ((x.f_dense, x.f_exp), (x.l_dense, x.l_exp)))
        fw, lw, host_f, host_l = fw - base_f, lw - base_l, host_f + base_f, host_l + base_l
    return StageStates(fw, lw, s.fg, s.lg, fo, lo, host_f, host_l, acc_f, acc_l, nvme_f, nvme_l)


def param_offload(x: StateContext, s: StageStates) -> StageStates:
    """DeepSpeed ZeRO-3's parameter offload (``Stack.param_offload``, ``offload_param: {device: cpu}``): the rank's
    parameter partition (``ds_tensor``, the module's dtype: ``w_held`` bytes a parameter, trainable and frozen alike)
    lives in a pinned host buffer (deepspeedai/DeepSpeed stage3.py ``_create_param_groups_fp16_flat_cpu_memory``;
    planner.model.offload module docstring, "Parameter offload"): it leaves the weight term for the host on the
    ZeRO-3 rows. The gathered window and the persistent parameters (``state_weights``) stay on the GPU. Under
    ``offload_device: nvme`` the host keeps the first ``max_in_cpu`` elements and the swap buffers, the NVMe the rest
    (offload ``nvme_param_split``)."""
    if not getattr(x.st, "param_offload", False):
        return s
    z3 = (x.kz >= 3) & ~_fsdp_held(x)[1]
    n_f, n_l = (np.where(z3, dense_rank(x, d) / x.dps + e / (x.ketp * x.kep) / x.edps, 0.0)[x.sinv]
                for d, e in ((x.f_dense, x.f_exp), (x.l_dense, x.l_exp)))
    w = (x.w_held * np.ones(np.shape(z3)))[x.sinv]
    shard_f, shard_l = n_f * w, n_l * w
    host_f, host_l, nvme_f, nvme_l = shard_f, shard_l, s.nvme_f, s.nvme_l
    if offload.nvme_swaps(x.st, "param"):  # ZeRO-Infinity: past max_in_cpu on the NVMe, the swap buffers pinned
        (sw_f, host_f), (sw_l, host_l) = (offload.nvme_param_split(n, w) for n in (n_f, n_l))
        nvme_f, nvme_l = nvme_f + sw_f, nvme_l + sw_l
    return dataclasses.replace(s, fw=s.fw - shard_f, lw=s.lw - shard_l, host_f=s.host_f + host_f,
                               host_l=s.host_l + host_l, nvme_f=nvme_f, nvme_l=nvme_l)


def fsdp2_offload_grads(x: StateContext, s: StageStates, c: Candidates, gb) -> StageStates:
    """FSDP2 ``CPUOffloadPolicy`` (``optimizer_offload`` on an FSDP2 stack, ``Stack.fsdp2_dp``) keeps the reduced
    gradient shard on the host: torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py ``foreach_reduce`` (pytorch/
    pytorch, read 2026-12-06), ``if fsdp_param.offload_to_cpu: new_sharded_grad = new_sharded_grad.to(torch.device(
    "cpu"), non_blocking=...)`` ("Since the GPU sharded gradient is allocated in the RS stream, we can free it here"),
    which becomes ``sharded_param.grad`` (later micro-batches ``+=`` into it on the CPU). Its host bytes are
    ``optimizer_offload``'s already; this takes the ZeRO-2/3 shard (``state_grads``' sharded term; under a frozen base
    the adapters' fp32 gradient shard, ``adapter_states``' -- CPUOffloadPolicy acts on every parameter of the unit;
    until ds47 left on the GPU) off the GPU's gradients where they are not held unsharded (``_fsdp_held``: a held
    gradient stays on the GPU until the last backward's reduce-scatter; the deferred sync holds none at one micro-batch
    a step, as ``stage_states``). Until 2026-12-06 (offload47) the shard stayed counted on the GPU."""
    if not (x.fsdp2 and x.st.optimizer_offload and x.b.state > 0):
        return s
    held = _fsdp_held(x)[0][x.sinv]
    if getattr(x.st, "defer_fsdp_grad_sync", False):
        x1 = dataclasses.replace(x, st=synced_each_microbatch(x.st))
        held = np.where(gb / (c.mb * c.dp) <= 1.0, _fsdp_held(x1)[0][x.sinv], held)
    on_host = (x.kz >= 2)[x.sinv] & ~held
    if x.b.frozen:  # the adapters' gradient shard alone: adapter_states' gradients over no other state
        none = np.zeros(len(c))
        ad = adapter_states(x, StageStates(none, none, none, none, none, none), x.k_layers[x.sinv],
                            c.tp.astype(np.float64))
        shard_f, shard_l = (np.where(on_host, g, 0.0) for g in (ad.fg, ad.lg))
    else:
        shard_f, shard_l = (np.where(on_host, ((dense_rank(x, d) / x.dps + e / (x.ketp * x.kep) / x.edps)
                                               * x.g_shard[x.kzi])[x.sinv], 0.0)
                            for d, e in ((x.f_dense, x.f_exp), (x.l_dense, x.l_exp)))
    return dataclasses.replace(s, fg=s.fg - shard_f, lg=s.lg - shard_l)


def memory_per_gpu(m: ModelSpec, t: TrainingSpec, c: Candidates, seq=None, global_batch=None, stack=None,
                   gpu: str | None = None, memo=None, ranks: bool = False):
    """Memory of the most loaded rank of each candidate, as a dict of arrays (bytes):
    ``weights``, ``grads``, ``optimizer``, ``activations``, ``logits``, ``other``, ``total``,
    ``stage`` (the code in ``PEAK_STAGES`` of the rank class that peaks: 0 rank 0 (the one rank of one stage), 1 the
    last, 2 a middle rank; ``rank_memory``'s ``peak_stage`` and the plan's ``most_loaded_stage`` read it; until
    mem43b 0 also where a middle rank peaked, and 1 on one stage where its "last" figure was the larger), ``host``
    (bytes per GPU offloaded to host RAM, planner.model.offload) under ``stack`` (default: training.framework), on
    GPU ``gpu`` (a catalog name; it matters only for FP8-stored weights, stack_kernels.fp8_linear_weight_bytes; None:
    Hopper's layout rules).

    Stacks that run the Hugging Face model code (``Stack.mixed_precision`` set: hf-trainer,
    deepspeed) take their activations from ``planner.model.activations_hf`` (what transformers'
    eager/sdpa code saves, measured per family), the others from the fused-kernel table; under
    ``mixed_precision: amp`` the weights follow the AMP convention (fp32 weights and gradients
    plus autocast's bf16 weight copies). On one pipeline stage without activation offload and
    without a frozen base, what the step creates — activations, transients, autocast's copies and
    the gradients as the stack holds them — is the walked peak of one step
    (``activations_hf.hf_step_memory``, ``_hf_walk_arrays``): ``activations`` + ``logits`` =
    that peak (a TP rank's taken moment by moment: ``activations_hf.hf_rank_peak``), and the weights
    are the fp32 storage only (the copies are in the walk, or absent under ZeRO-3).

    ``memo``: a search's ``step_time.LayerMemo``, which keeps the per-layer activation rows by layer key across
    its calls (the same numbers, bit for bit; a call's fixed cost was mostly that table).

    Composed of one function per term (until 2026-12-04 one 317-line function): peak per stage = weights + grads
    + optimizer (``model_states``, ``autograd_grads``, ``adapter_states``, ``optimizer_offload``) + activations +
    logits (``transformer_activations`` / ``sample_activations``) + other (the CUDA context, ``comm_groups``'
    NCCL buffers, fragmentation) + FSDP2's head buffers beyond the logits (``fsdp2_head_buffers``); the last stage at
    the larger of that and the moment its pipeline merges the outputs it keeps (``pp_merge_parts``).

    With ``ranks`` (the chosen plans only: a second and third pass over the states), also rank 0's, the heaviest
    middle rank's and the last rank's memory apart (``rank_class_rows``), which ``rank_memory`` reads.

    More than ``layout.EVAL_BLOCK`` candidates are evaluated that many at a time (``layout.in_blocks``)."""
    t = on_stack(t, stack)  # a frozen MoE's expert adapters are the stack's (finetune.expert_adapters)
    return in_blocks(lambda b: _memory_rows(m, t, b, seq, global_batch, stack, gpu, memo, ranks), c)


def mfsdp_recompute_bytes(x: StateContext, c: Candidates, dense, expert):
    """Per candidate, the bytes Megatron-FSDP holds beyond ``state_weights`` where the backward re-runs the forward
    (``c.rc`` full) over FP8 parameters gathered in a buffer a pass (MXFP8): the re-run forward's row-wise payload of
    every unit rebuilt at once (one layer; Megatron's ``--recompute-method uniform``'s group,
    planner.model.pipeline ``uniform_groups``) beside the backward's column-wise one
    (``stack_kernels.mfsdp_fp8_gather_bytes``'s ``recomputed``), at ZeRO-3 where units are gathered."""
    if not x.st.megatron_fsdp:
        return 0.0
    stage = dense_rank(x, dense) + expert / (x.ketp * x.kep)
    recomputed = _mfsdp_gather_bytes(x, param_gather_bytes(x.t, x.w_held))[2]
    per_unit = np.where(x.kz >= 3, recomputed, 0.0)[x.sinv]
    if not np.any(per_unit):
        return 0.0
    rg = np.zeros(len(c)) if c.rg is None else np.asarray(c.rg, dtype=np.float64)
    # groups only where a row recomputes uniform groups: a model without transformer layers (a generic one, one unit:
    # ``mfsdp_unit_params``) has none, and no layer count to group (qa108: resnet50 under MXFP8 raised here)
    units = np.where(rg > 0, uniform_groups(x.m.layers, np.maximum(rg, 1.0), c.pp, c.vpp)[1], 1.0) if np.any(
        rg > 0) else 1.0
    held = np.minimum(x.mfsdp_unit[x.sinv] * units, stage[x.sinv])
    return np.where(c.rc == RECOMPUTE.code["full"], held * per_unit, 0.0)


def stage_states(x: StateContext, c: Candidates, gb, walked, hf) -> StageStates:
    """The first and last stage's model states as ``memory_per_gpu`` prices them: ``model_states``, the deferred
    FSDP gradient sync's one-micro-batch rows, ``autograd_grads``, a frozen base's ``adapter_states``,
    ``optimizer_offload``, FSDP2's offloaded gradient shard (``fsdp2_offload_grads``) and DeepSpeed's offloaded
    parameter partition (``param_offload``)."""
    s = model_states(x)
    s = dataclasses.replace(s, fw=s.fw + mfsdp_recompute_bytes(x, c, x.f_dense, x.f_exp),
                            lw=s.lw + mfsdp_recompute_bytes(x, c, x.l_dense, x.l_exp))
    one = np.zeros(len(c), dtype=bool)
    if accumulates_unsharded(x.st):  # one micro-batch a step: its sync is the last one, nothing held
        one = gb / (c.mb * c.dp) <= 1.0
        if one.any():
            s1 = model_states(dataclasses.replace(x, st=synced_each_microbatch(x.st)))
            s = dataclasses.replace(s, fg=np.where(one, s1.fg, s.fg), lg=np.where(one, s1.lg, s.lg))
    s = autograd_grads(x, s, c, walked, hf)
    if x.b.frozen:  # fp32 adapters, their fp32 gradients and optimizer state, split like the layers
        s = adapter_states(x, s, x.k_layers[x.sinv], c.tp.astype(np.float64), synced=one)
    return param_offload(x, fsdp2_offload_grads(x, optimizer_offload(x, s), c, gb))


def _memory_rows(m: ModelSpec, t: TrainingSpec, c: Candidates, seq, global_batch, stack, gpu, memo,
                 ranks: bool = False) -> dict:
    """``memory_per_gpu`` on the candidates ``c`` in one pass."""
    st = from_training(t, stack, m)
    seq = t.seq_len if seq is None else seq
    gb = t.global_batch if global_batch is None else global_batch
    hf = _hf_code(m, t, st)
    given = t  # the caller's spec: the memo's key (``held_training`` may make a new object on every call)
    t = held_training(m, t, st)
    b = state_bytes(m, t, st)
    x = muon_heaviest_stage(state_context(m, t, st, c, gpu, b))
    fsdp2_head = fsdp2_head_buffers(x, len(c))
    layers = x.k_layers[x.sinv]
    # HF-code plans whose step memory is walked (``_hf_walk_arrays``): one stage, no activation
    # offload, the whole model trained (a frozen base keeps finetune.py's table)
    walked = (c.pp == 1) & (not st.activation_offload) if (hf and not b.frozen and m.is_transformer) else None
    s = stage_states(x, c, gb, walked, hf)
    groups = comm_groups(x)
    buffers = moe_comm_buffers(m, st, c, seq)

    m_micro = np.maximum(gb / (c.mb * c.dp), 1.0)
    # the optimizer wrapper's host accumulation buffers, held only when a step has more than one micro-batch
    host_acc = (np.where(m_micro > 1.0, s.host_accum_f, 0.0), np.where(m_micro > 1.0, s.host_accum_l, 0.0))
    if m.is_transformer:
        # the loss's backward: the head's gradient and gathered kernel where a layer's would be (scan_loss_weights)
        gather_b = (param_gather_bytes(t, x.w_held) * np.ones(np.shape(x.largest)))[x.sinv]
        loss_w = scan_loss_weights(m, st, c, b.act, x.largest[x.sinv] * gather_b, gather_b)
        a = transformer_activations(m, t, given, st, c, seq, gb, b, memo, hf, walked, layers, m_micro, x.g_kept,
                                    loss_w, exact=ranks)
        host_f, host_l = s.host_f + a.host + host_acc[0], s.host_l + a.host + host_acc[1]
    else:
        a = sample_activations(m, c, b.act)
        host_f, host_l = s.host_f + host_acc[0], s.host_l + host_acc[1]

    rt, context = runtime_reserve(gpu, st)  # the platform's runtime: CUDA's context and NCCL, XLA's withheld HBM
    outside = context + rt.per_group * groups + buffers

    def other(act, rows=None):  # (``rows``: the reserve of those rows only, ``act`` theirs: rank_class_rows)
        return rows_of(outside, rows, len(c)) + allocator_reserve(act, rt.fragmentation)

    first = rank_parts(s.fw, schedule_grads(x, c, m_micro, a.first_act, x.f_dense, x.f_exp, s.fg, 0), s.fo,
                       a.first_act, a.first_logits, fsdp2_head[0], other)
    # rank 0 and the middle rank that peaks each on its own states beside its own activations (rank_class_rows), and
    # "first" the larger of the two: the search fits the peak rank's own total, the one the plan prints (mem43)
    classes = rank_class_rows(x, c, dict(gb=gb, walked=walked, hf=hf, gpu=gpu, m_micro=m_micro), a, fsdp2_head[0],
                              other)
    paired, (first, middle) = first, peak_rank_class(classes, first)  # ("other": paired's, recomputed below)
    first_total = first["total"]
    last_g = schedule_grads(x, c, m_micro, a.last_act, x.l_dense, x.l_exp, s.lg, np.asarray(c.pp) - 1)
    in_step = rank_parts(s.lw, last_g, s.lo, a.last_act, a.last_logits, fsdp2_head[1], other)
    last_parts = pp_merge_parts(x, c, dict(gb=gb, walked=walked, hf=hf, gpu=gpu, m_micro=m_micro, seq=seq), in_step,
                                other)
    last_total = last_parts["total"]
    last = last_total > first_total
    pick = lambda f, l: select(last, l, f)  # noqa: E731 (np.where, branch-free: planner.npfast)
    act = pick(first["activations"], last_parts["activations"])
    lg_ = pick(first["logits"], last_parts["logits"])
    apart = {}
    if ranks:  # each rank class on its own (the chosen plans: rank_memory)
        apart = {**rank_class_columns(classes, paired, len(c)),
                 **{f"last_{k}": v * np.ones(len(c)) for k, v in last_parts.items()}}
    return apart | dict(
        weights=pick(first["weights"], last_parts["weights"]), grads=pick(first["grads"], last_parts["grads"]),
        optimizer=pick(first["optimizer"], last_parts["optimizer"]),
        activations=act, logits=lg_, other=other(act + lg_), total=np.maximum(first_total, last_total),
        # (one stage: rank 0 is first and last, named "first" as rank_memory names it; mem43b)
        stage=np.where(last & (np.asarray(c.pp) > 1), PEAK_STAGES.index("last"),
                       np.where(middle, PEAK_STAGES.index("middle"), 0)).astype(np.int8),
        host=pick(host_f, host_l) * np.ones(len(c)),
        # what DeepSpeed ZeRO-Infinity swaps to the node's NVMe per GPU (offload.nvme_fits; 0 without offload_device nvme)
        nvme=pick(s.nvme_f, s.nvme_l) * np.ones(len(c)),
        # the part of ``other`` PyTorch's caching allocator never sees (the CUDA context, NCCL's own
        # cudaMalloc'd buffers): what separates nvidia-smi's figure from torch.cuda.max_memory_reserved
        outside_allocator=outside * np.ones(len(c)),
        # the MoE dispatcher's buffers inside ``other`` (``moe_comm_buffers``; DeepEP / HybridEP, 0 otherwise)
        comm_buffers=buffers * np.ones(len(c)),
        # the last pipeline stage on its own (a stack that logs one rank's memory logs the last:
        # Megatron-LM's tensorboard writer is rank world_size - 1)
        total_last=last_total * np.ones(len(c)), other_last=last_parts["other"] * np.ones(len(c)),
        # the pool's free blocks at the loss's peak on the last stage, where the loss sets its peak: in a max_reserved or
        # nvidia-smi figure, not in ``total`` (the allocator frees them before an out-of-memory error; activations
        # ``loss_pool_free_bytes``)
        # (what of them the pool holds past the merge's moment where that moment is the larger: pp_merge_parts)
        pool_free_last=past_merge(in_step["total"], last_total, np.where(
            np.asarray(a.last_logits) > 0, loss_pool_free(m, st, c, seq, b.act, given), 0.0)) * np.ones(len(c)),
        # where the walk holds autograd's .grad tensors (in ``activations``; ``autograd_grads``)
        grads_walked=(np.zeros(len(c), dtype=bool) if walked is None else np.broadcast_to(walked, (len(c),))),
    )


def loss_pool_free(m: ModelSpec, st, c: Candidates, seq, act_b, t: TrainingSpec):
    """``activations.loss_pool_free_bytes`` on the candidates' last stage under the stack's loss code."""
    return loss_pool_free_bytes(m, seq, c.mb, c.tp, c.cp, act_b, st.loss_code, stack_head_seq(st, t))


def rank_state_context(x: StateContext, gpu, rank) -> StateContext:
    """``x`` with its "first" stage made pipeline rank ``rank`` (per state key: its own parameters, blocks and 16-bit
    kept layers; the embedding's end on rank 0 only) from the split's every rank before the last
    (memory_stages ``StageSplit.before_last``, the key split's: its blocks only under Muon, the one optimizer that reads
    them). Read for pp > 2 outside DualPipeV's V only: rank 0 and each middle rank that can peak
    (``rank_class_rows``)."""
    m, st = x.m, x.st
    before = x.before_last  # the key split's (key_stage_split: found once for the memory and the step time)
    n = len(x.kpp)
    if not before:
        return x
    rank = np.broadcast_to(np.asarray(rank, dtype=np.intp), (n,))
    dense, exp = (np.stack([np.broadcast_to(r[q], (n,)) for r in before]).astype(np.float64) for q in (0, 1))
    pick = lambda a: np.take_along_axis(a, rank[None], 0)[0]  # noqa: E731
    blocks = None if x.first_blocks is None else {  # the MTP modules ("mtp") sit on the last rank
        k: pick(np.stack([np.broadcast_to(b.get(k, 0.0), (n,)) for _, _, b in before])) for k in x.first_blocks}
    _, _, _, ends, lp16 = weight_storage(m, x.t, st, gpu, x.b, x.kz, x.kpp, x.kvpp, x.ktp, x.ktpf, rank)
    return dataclasses.replace(x, f_dense=pick(dense), f_exp=pick(exp), first_blocks=blocks, ends_f=ends[0],
                               lp16_f=lp16[0])


#: ``memory_per_gpu``'s ``stage`` codes: which rank class holds the peak (``results.RankTotal.stage``'s names); the
#: codes 0 and 1 kept their meaning when the middle rank got its own (mem43b)
PEAK_STAGES = ("first", "last", "middle")

#: the parts of one rank's memory (``results.MEMORY_PARTS``: ``memory_per_gpu``'s columns of the same names), and their
#: sum
RANK_PARTS = MEMORY_PARTS + ("total",)


def schedule_grads(x: StateContext, c: Candidates, m_micro, act, dense, expert, grads, rank):
    """``grads`` (a stage's, per candidate) less the FSDP2 accumulators pipeline rank ``rank`` never holds beside its
    activations ``act`` under torch's interleaved schedule (memory_stages ``pp_accumulators_apart`` on
    ``pp_accumulator_bytes``; ``grads`` itself elsewhere)."""
    held = pp_accumulator_bytes(x, dense, expert)
    if not np.any(held):
        return grads
    return grads - pp_accumulators_apart(c, m_micro, act, held, rank)


def pp_merge_parts(x: StateContext, c: Candidates, kw: dict, in_step: dict, other) -> dict:
    """The last pipeline stage's parts (``rank_parts``) at its larger moment, per candidate: in the step (``in_step``)
    or when ``step`` merges the outputs the stage keeps (``Stack.pp_kept_output_bytes``; ``in_step`` itself where
    none are kept). At the merge the schedule's last backward has run FSDP's ``post_backward`` with
    ``set_reshard_after_backward(True)`` and ``set_requires_gradient_sync(True)`` (torch 2024 stage.py
    ``backward_maybe_with_nosync(last_backward=True)``'s ``run_post_backward``; torch 2.13 ``perform_reduce_grad`` at
    the end of ``_step_microbatches``): the stage's unsharded weights and gradient accumulators are gone, its states
    are those at rest (``stage_states`` with ``pp_fsdp_unsharded`` off and resharding after forward), beside the kept
    outputs twice and the receive buffers (memory_activations ``pp_merge_outputs``; measured in
    tests/data/pp_merge_truth.json). ``kw``: ``gb``, ``walked``, ``hf``, ``gpu``, ``m_micro``, ``seq``."""
    act, logits = pp_merge_outputs(x.m, x.st, c, kw["seq"], kw["m_micro"], x.b.act, stack_head_seq(x.st, x.t))
    if not np.any(logits):
        return in_step
    rest_st = dataclasses.replace(x.st, pp_fsdp_unsharded=False, reshard_after_forward=True)
    rest = stage_states(muon_heaviest_stage(state_context(x.m, x.t, rest_st, c, kw["gpu"], x.b)), c, kw["gb"],
                        kw["walked"], kw["hf"])
    merge = rank_parts(rest.lw, rest.lg, rest.lo, act * np.ones(len(c)), logits * np.ones(len(c)), 0.0, other)
    later = merge["total"] > in_step["total"]
    return {k: np.where(later, merge[k], v) for k, v in in_step.items()}


def past_merge(in_step, last_total, free):
    """The loss's free pool blocks (``free``, beside the step's moment ``in_step``) that the pool holds above the last
    rank's total ``last_total``: ``free`` where the step's moment is the total, else what they add above the merge's
    moment (``pp_merge_parts``), none where it is the larger."""
    return np.where(last_total > in_step, np.maximum(in_step + free - last_total, 0.0), free)


def rank_parts(weights, grads, optimizer, act, logits, head, other) -> dict:
    """One rank's memory by part (``RANK_PARTS``): its states, activations and logits, ``other`` (a callable: the
    runtime's reserve on the dynamic bytes) and their sum; the one rule ``memory_per_gpu``'s first and last stages
    and ``rank_class_rows``' rank 0 and middle rank are each priced by. The head unit's gradient buffers (``head``:
    ``fsdp2_head_buffers``) come after the loss's backward has freed the logits and their transient (the output
    layer's weight gradient is the first the backward makes): the peak holds the larger of the two, so only what the
    head's buffers exceed the logits by counts (fsdp2_reduce_buffer_bytes; 0 where a micro-batch's tokens outnumber
    the hidden size, Llama-3-8B at 8k: logits 4.2 GB vs the head's 3.15 GB)."""
    parts = dict(weights=weights, grads=grads + np.maximum(head - logits, 0.0), optimizer=optimizer,
                 activations=act, logits=logits, other=other(act + logits))
    parts["total"] = sum(parts.values())
    return parts


def rank_class_rows(x: StateContext, c: Candidates, kw: dict, a: ActivationTerms, head_f, other) -> dict | None:
    """Rank 0's and the middle ranks' memory, each its own states (``rank_state_context``, ``rank_class_states``)
    beside its own activations and rebuild (``RankActivations``), per part (``RANK_PARTS``) as ``rank0_*`` and
    ``middle_*``: the middle the largest total of the middle ranks that can peak (``middle_rank_of``, each at its own
    micro-batches in flight; the first of equals), with ``told`` (the rows with a middle rank: pp > 2 outside
    DualPipeV's V, a transformer's) and ``middle_rank`` (-1 where there is none); None where no row has one.
    Elsewhere the paired "first" stage (the states of the heaviest rank before the last beside the peak of both
    ranks' activations) is rank 0's own: pp <= 2, DualPipeV's V (rank 0 holds both ends), a model priced per
    sample. ``kw``: ``stage_states``' gb, walked, hf and the GPU. Until mem43b the middle paired the heaviest
    middle rank's states (by parameters per GPU) with rank 1's micro-batches in flight and the largest layer mix
    and rebuild of any middle rank: Nemotron-H 8B's PP8 (5, 7 x 6, 5 blocks) priced rank 3's states beside rank 1's
    count."""
    told = ((np.asarray(c.pp) > 2) & (split_vpp(c) != V_SPLIT) if a.rank0_act is not None
            else np.zeros(len(c), dtype=bool))
    if not told.any():
        return None
    n, nk = len(c), len(x.kpp)

    def priced(rank_rows, act, rows=None):  # ``rows``: those rows' figures only
        rk = np.zeros(nk, dtype=np.intp)  # the rank per state key (``rank_rows`` one on a key's rows)
        rk[x.sinv] = np.maximum(rank_rows, 0)
        xr = rank_state_context(x, kw["gpu"], rk)
        w, g, o = rank_class_states(xr, c, kw, rows)
        at = functools.partial(rows_of, rows=rows, n=n)
        g = at(schedule_grads(xr, c, kw["m_micro"], act, xr.f_dense, xr.f_exp, np.zeros(n), np.maximum(rank_rows, 0))
               ) + g
        return rank_parts(w, g, o, at(act), at(a.first_logits), at(head_f), lambda v: other(v, rows))

    def priced_own(rank_rows, act, rows):
        """``priced`` on ``rows``, each at its own rank: a state key's rows share one split but not always one middle
        rank (each row's own recompute prunes it, memory_activations ``_middle_splits``), so one pass per rank a
        key's rows take (one where they agree)"""
        got, left = {k: np.empty(rows.size) for k in RANK_PARTS}, np.arange(rows.size)
        while left.size:
            own = np.maximum(rank_rows[rows[left]], 0)
            rk = np.zeros(nk, dtype=np.intp)
            rk[x.sinv[rows[left]]] = own
            now = left[own == rk[x.sinv[rows[left]]]]  # (the rows whose rank their key took this pass)
            parts = priced(rk[x.sinv], act, rows[now])
            for k in RANK_PARTS:
                got[k][now] = parts[k]
            left = np.setdiff1d(left, now, assume_unique=True)
        return got
    out = dict(told=told, **{f"rank0_{k}": v for k, v in priced(np.zeros(n, dtype=np.intp), a.rank0_act).items()})
    # the largest total over the middle ranks priced (the first of equals; -inf: none), each on its priced rows
    best, rank = {k: np.full(n, -np.inf if k == "total" else 0.0) for k in RANK_PARTS}, np.full(n, -1)
    for act, r, ok in zip(a.middle_act, a.middle_rank, a.middle_priced):
        rows = np.flatnonzero(ok)
        if rows.size:
            parts = priced_own(r, act, rows)
            more = parts["total"] > best["total"][rows]
            for k in RANK_PARTS:
                best[k][rows] = select(more, parts[k], best[k][rows])
            rank[rows] = np.where(more, r[rows], rank[rows])
    out.update({f"middle_{k}": v for k, v in best.items()})
    return out | dict(middle_rank=np.where(told, rank, -1))


def rank_class_states(xr: StateContext, c: Candidates, kw: dict, rows=None) -> tuple:
    """(weights, grads, optimizer) of ``xr``'s "first" stage per candidate (``stage_states``): priced once per state
    key and gathered where no term reads a candidate's own columns (no walked HF step, no deferred FSDP gradient
    sync, no frozen base's adapters), the same figures bit for bit (each term is its key's value gathered), else
    per candidate (and under Megatron-FSDP's MXFP8, whose recompute term reads the candidate's columns). The search prices two
    such ranks on every block (mem43): per key it costs a few gathers.
    ``rows``: those candidates' figures only (None: all)."""
    # Megatron-FSDP's re-gathered MXFP8 payload under full recompute (its only buffer of its own, ``recomputed``
    # of stack_kernels ``mfsdp_fp8_gather_bytes``) reads each candidate's recompute and pipeline columns
    # (``mfsdp_recompute_bytes``), not a state key's: priced per candidate too
    regathers = xr.st.megatron_fsdp and xr.st.recipe.own_columnwise_bytes > 0
    if kw["walked"] is not None or accumulates_unsharded(xr.st) or xr.b.frozen or regathers:
        s = stage_states(xr, c, kw["gb"], kw["walked"], kw["hf"])
        return (s.fw, s.fg, s.fo) if rows is None else tuple(np.broadcast_to(v, (len(c),))[rows]
                                                             for v in (s.fw, s.fg, s.fo))
    nk = len(xr.kpp)
    s = stage_states(dataclasses.replace(xr, sinv=np.arange(nk)), c, kw["gb"], None, kw["hf"])
    inv = xr.sinv if rows is None else xr.sinv[rows]
    return tuple(np.broadcast_to(v, (nk,))[inv] for v in (s.fw, s.fg, s.fo))


def rank_class_columns(classes: dict | None, first: dict, n: int) -> dict:
    """``rank_class_rows``' columns for ``rank_memory``: rank 0 the paired ``first`` and the middle NaN on the rows
    without a middle rank."""
    if classes is None:
        out = {f"rank0_{k}": v * np.ones(n) for k, v in first.items()}
        return out | {f"middle_{k}": np.full(n, np.nan) for k in first} | dict(middle_rank=np.full(n, -1))
    told = classes["told"]
    out = {f"rank0_{k}": np.where(told, classes[f"rank0_{k}"], first[k]) for k in RANK_PARTS}
    out.update({f"middle_{k}": np.where(told, classes[f"middle_{k}"], np.nan) for k in RANK_PARTS})
    return out | dict(middle_rank=classes["middle_rank"])


def peak_rank_class(classes: dict | None, first: dict) -> tuple[dict, np.ndarray | bool]:
    """(parts, middle): the "first" stage's parts (``RANK_PARTS``) as the larger of rank 0's and the middle
    rank's own totals (``rank_class_rows``) on the rows with a middle rank, ``first`` elsewhere. Until mem43 "first"
    paired the states of the heaviest rank before the last with the peak of both ranks' activations, an upper bound
    the search fitted on while the plan printed the per-rank peak: DeepSeek-V3 on Megatron-Bridge's PP16 layout at EP 8 (bf16, full
    recompute, 4k tokens) priced rank 1's states beside rank 0's activations, 0.29 GiB over rank 1's own total.
    ``middle``: where the middle rank is the larger (rank 0 first of equals), which ``memory_per_gpu``'s ``stage``
    names (until mem43b "first" there too, beside ``rank_memory``'s "middle")."""
    if classes is None:
        return first, False
    told = classes["told"]
    mid = told & (classes["middle_total"] > classes["rank0_total"])
    # the logits are every class's (a.first_logits) and ``other`` follows from the activations: the caller's
    return first | {k: select(mid, classes[f"middle_{k}"], select(told, classes[f"rank0_{k}"], first[k]))
                    for k in ("weights", "grads", "optimizer", "activations", "total")}, mid


def rank_memory(m: ModelSpec, t: TrainingSpec, c: Candidates, seq=None, global_batch=None, stack=None,
                gpu: str | None = None) -> tuple[RankMemory, ...]:
    """Per candidate (the chosen plans: this prices the states twice more), which pipeline rank holds the peak and
    by how much (``results.RankMemory``): rank 0, the middle rank that peaks and the last, each its own states,
    activations, rebuild, logits / loss (the last; rank 0 on one stage or under DualPipeV's V) and ``other``
    (``rank_class_rows``). ``memory_per_gpu``'s ``total`` (what the search fits) is this peak (``peak_rank_class``;
    until mem43 a paired total, up to 0.29 GiB over it on DeepSeek-V3 PP16), and its ``stage`` names the class
    (``peak_stage``). The middle is the largest own total of the middle ranks that can peak (``middle_rank_of``),
    each at its own micro-batches in flight; until mem43b the heaviest middle rank's states beside rank 1's count
    at the largest saves mix of any middle rank, no bound either way (tests/test_mem43b.py)."""
    got = memory_per_gpu(m, t, c, seq, global_batch, stack, gpu, ranks=True)
    return tuple(rank_memory_row(got, c, i) for i in range(len(c)))


def rank_memory_row(got: dict, c: Candidates, i: int) -> RankMemory:
    """Row ``i`` of ``memory_per_gpu(ranks=True)`` as a ``RankMemory`` (``rank_memory``'s; a plan's ``evaluate`` asks
    for the rank classes in its one memory call and reads its row here)."""
    pp, v = int(c.pp[i]), bool(split_vpp(c)[i] == V_SPLIT) and int(c.pp[i]) > 1
    mid = int(got["middle_rank"][i])
    part = lambda name: {k: float(got[f"{name}_{k}"][i]) for k in RANK_PARTS}  # noqa: E731
    held = [RankTotal(rank=0, stage="first", **part("rank0"))]
    if mid >= 0:
        held.append(RankTotal(rank=mid, stage="middle", **part("middle")))
    if pp > 1:  # the last rank (under the V the fullest rank past 0, whose index is not kept)
        held.append(RankTotal(rank=None if v else pp - 1, stage="last", **part("last")))
    # the class memory_per_gpu's ``stage`` names (rank 0 before the middle before the last where equal): one choice,
    # so the plan's most_loaded_stage and this peak_stage agree (mem43b)
    peak = next(r for r in held if r.stage == PEAK_STAGES[int(got["stage"][i])])
    return RankMemory(ranks=tuple(held), peak_rank=peak.rank, peak_stage=peak.stage, peak=peak.total)


def _hf_code(m: ModelSpec, t: TrainingSpec, stack=None) -> str | None:
    """The HF table's precision for a stack that runs transformers' model code, else None."""
    from planner.model.stacks import from_training

    fw = stack if stack is not None else from_training(t)
    if fw.mixed_precision is None or not m.is_transformer:
        return None
    if t.precision == "fp32":
        return "fp32"
    return "amp_bf16" if fw.mixed_precision == "amp" else "bf16"


def held_training(m: ModelSpec, t: TrainingSpec, stack=None) -> TrainingSpec:
    """``t`` with the weights convention the stack really holds: a stack that runs transformers' code under autocast
    (``_hf_code`` "amp_bf16": HF Trainer's ``TrainingArguments(bf16=True)``, autocast over the fp32 model) keeps fp32
    weights and no separate master copy whatever ``training.weights`` says (``weights: amp``); otherwise ``t``. One
    rule for the memory (``memory_per_gpu``) and the checkpoint (planner.simulate.config ``checkpoint_bytes``)."""
    if _hf_code(m, t, stack) == "amp_bf16" and t.weights != "amp":
        return t.model_copy(update={"weights": "amp"})
    return t
