"""Memory per GPU: model states, activations, logits and the rest, for the most loaded rank.

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
  planner.model.stacks ``ZERO_STATES``.
* PyTorch AMP (``weights='amp'``): fp32 weights and gradients, optimizer moments, and the 16-bit
  copies autocast makes of each weight and autograd keeps for backward (+2 bytes/param).
* FSDP FULL_SHARD = ZeRO-3, SHARD_GRAD_OP = ZeRO-2; ZeRO-3 also holds the gathered 16-bit weights
  of the layers in flight (the current one and one prefetched), each the rank's share of the largest layer: its
  TP slice and only its local experts (planner.model.memory_stages ``largest_unit_params``). Megatron-FSDP
  (``Stack.megatron_fsdp``:
  optim_grads = ZeRO-2, optim_grads_params = ZeRO-3, the same shards) holds a window of about 1e9
  elements of gathered weights and of unsharded gradient buckets instead (``mfsdp_buffer_elems``).
  FSDP2 over fp32 parameters (``Stack.fsdp2_dp``: torchtitan, NeMo AutoModel) keeps no 16-bit shard -- its
  sharded parameter is the fp32 master, cast to bf16 only as each all-gather's input -- and holds, at ZeRO-2 and
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
(``chunk_activations``: each chunk's own layers x the micro-batches Megatron-Core's order leaves on that chunk,
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

import collections
import dataclasses
import functools
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from planner.model.activations import (layer_activation_bytes, logits_bytes, loss_transient_bytes, rank_logits,
                                       rank_tokens, remat_host_layer_bytes, sp_divisor, stack_remat,
                                       mean_layer_activation_bytes, recompute_working_set, saved_softmax_fp32,
                                       stack_table_kw)
from planner.layout import V_SPLIT, Candidates, distinct_rows, in_blocks, split_vpp
from planner.model.comm import hierarchical_cp_a2a
from planner.npfast import select, where0
from planner.results import MEMORY_PARTS, RankMemory, RankTotal
from planner.spec.params import count_params, layer_kinds
from planner.defaults import ADAPTER_BYTES
from planner.model.finetune import (HF_PRECISION, adapter_params, adapter_whole_params, frozen_base,
                                    frozen_layer_activation_bytes, frozen_storage_bytes, bitsandbytes_layer_bytes)
from planner.model import offload, optimizers
from planner.model.moe import (HfEpPlan, dispatcher_buffer_bytes, hf_ep_plan as moe_mech_plan, hf_ep_whole_params,
                                hf_tp_plan)
from planner.model.pipeline import (chunk_inflight, chunk_inflight_paired, chunk_layers, pipeline_split,
                                    recomputed_fraction, runtime_at, split_per_row, split_runtime, stage_layer_split,
                                    tp_dependent, head_rank, kind_weights, rank_kind_layers, rank_sums, stage_kind_layers,
                                    uniform_groups)
from planner.model.memory_stages import (STATE_KEY, inflight_microbatches, key_stage_split, layer_params,
                                         lp16_rank_params, pipeline_end_params, split_blocks, stage_layer_microbatches)
from planner.model.stacks import cp_comm_mix, from_training, recompute_modules
from planner.model.stack_kernels import fp8_linear_weight_bytes, fp8_weights_as_stored, hf_attn_choice
from planner.spec import ModelSpec, TrainingSpec
from planner.vocab import HYBRID_LAYER

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

CUDA_CONTEXT_BYTES = 0.75 * GiB  # CUDA context + cuBLAS/cuDNN workspaces (the allocator's reserve is FRAGMENTATION)
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

    def context_on(self, part: str | None) -> float:
        """``context`` on catalog part ``part`` (its ``withheld`` figure where measured)."""
        return dict(self.withheld).get(part, self.context)


GPU_RESERVE = RuntimeReserve(CUDA_CONTEXT_BYTES, NCCL_BYTES_PER_GROUP, FRAGMENTATION,
                             "the CUDA context, NCCL buffers and fragmentation")
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
    "rocm": dataclasses.replace(GPU_RESERVE, words="the HIP context, RCCL buffers and fragmentation"),
    "gaudi": dataclasses.replace(GPU_RESERVE, words="the runtime's reserve, HCCL buffers and fragmentation"),
    "tpu": RuntimeReserve(dict(TPU_WITHHELD)["TPU-v6e"], 0.0, 0.0,
                          "the HBM the XLA runtime withholds from the program", TPU_WITHHELD),
    "neuron": dataclasses.replace(GPU_RESERVE, words="the Neuron runtime's reserve, collective buffers and "
                                                     "fragmentation, priced as a GPU's,"),
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
    platform, else the stack's where it runs on one only (``Stack.platforms``: MaxText's is the TPU), else CUDA."""
    plat = _part_platform(gpu) if gpu else None
    plats = tuple(getattr(stack, "platforms", ()) or ())
    r = RUNTIME_RESERVE.get(plat or (plats[0] if len(plats) == 1 else "cuda"), GPU_RESERVE)
    return r, r.context_on(gpu)


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


#: ``zero_stage_states``' codes of ``ZeroStageStates.grads_kept`` (planner.model.stacks.GRADS_KEPT)
KEPT_NONE, KEPT_ACCUMULATED, KEPT_PERSIST = range(3)


def zero_stage_states(stack, training: TrainingSpec, grads: float, weights: float = 2.0):
    """Per ZeRO stage 0..3 (index), what the gradients and the optimizer state cost per trained parameter
    beyond the weights, as arrays: (gradient bytes held unsharded, gradient bytes held as the 1/N shard, optimizer
    state sharded (bool), reduce-bucket bytes per rank (not per parameter), ``.grad`` kept (``KEPT_*``), 16-bit
    ``.grad`` bytes per parameter, bytes per element of the rank's largest parameter held as one buffer:
    ``ZeroStageStates.largest_grad_buffer``, DeepSpeed's offload, ``state_grads``). ``grads``: the convention's gradient bytes (``model_state_bytes_per_param``),
    ``weights`` the 16-bit weight bytes. On an FSDP2 stack (``Stack.fsdp2_dp``) the ZeRO-2/3 gradient shard is in the
    fp32 master's bytes whatever ``grads`` says (torch ``foreach_reduce`` casts the reduced shard to the parameter's
    dtype).

    The ZeRO paper's convention (Rajbhandari et al. 2020 §5): the gradient buffer whole below ZeRO-2 and sharded
    from it, the optimizer state sharded from ZeRO-1; ``.grad`` kept where DDP keeps it (ZeRO-0; ZeRO-1 without
    overlapped reduction). A stack whose optimizer wrapper holds other buffers says so (``Stack.zero_states``: a
    ``planner.model.stacks.ZERO_STATES`` table, DeepSpeed's, read from its source there) and takes that table's rows
    for 16-bit training with fp32 master weights (``weights: megatron``); any other precision or convention keeps
    the paper's. The table replaces ``training.grad_dtype``: DeepSpeed chooses its accumulation dtype itself
    (engine.py ``get_data_types``, the defaults the table is read at)."""
    from planner.model.stacks import GRADS_KEPT, ZERO_REDUCE_BUCKET_ELEMS, zero_state_rows

    rows = zero_state_rows(stack, training)
    if rows is None:
        keep1 = KEPT_NONE if getattr(stack, "overlap_grad_reduce", True) else KEPT_ACCUMULATED
        # FSDP2 over fp32 parameters (Stack.fsdp2_dp) casts the reduced shard to the parameter's dtype: the master's
        # fp32 where there is one, whatever training.grad_dtype reduces in
        master = PRECISION_CONVENTIONS[(training.precision, training.weights)][3]
        shard = master if (getattr(stack, "fsdp2_dp", False) and master) else grads
        if getattr(stack, "fsdp2_dp", False) and params_16bit(stack, training):  # 16-bit parameters: their dtype
            shard = weights
        return (np.array([grads, grads, 0.0, 0.0]), np.array([0.0, 0.0, shard, shard]),
                np.array([False, True, True, True]), np.zeros(4),
                np.array([KEPT_ACCUMULATED, keep1, KEPT_NONE, KEPT_NONE]), np.zeros(4), np.zeros(4))
    overlap = int(bool(getattr(stack, "overlap_grad_reduce", False)))
    bucket = getattr(stack, "reduce_bucket_size", None) or ZERO_REDUCE_BUCKET_ELEMS  # the job's, else DeepSpeed's
    return (np.array([r.acc_bytes for r in rows]), np.array([r.shard_grad_bytes for r in rows]),
            np.array([r.optimizer_sharded for r in rows]),
            np.array([r.reduce_buckets[overlap] * bucket * weights for r in rows]),
            np.array([GRADS_KEPT.index(r.grads_kept) for r in rows]),
            np.array([weights if r.grads_kept != "none" else 0.0 for r in rows]),
            np.array([weights if r.largest_grad_buffer else 0.0 for r in rows]))


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


def layer_matrix_elems(m: ModelSpec) -> float:
    """Elements of a transformer layer's largest single weight matrix, whole: an MLP projection (hidden x the widest
    FFN, one expert's under MoE) or the attention's query / output (hidden x heads x head dim)."""
    heads = (m.heads or 0) * (m.head_dim or ((m.hidden or 0) // max(m.heads or 1, 1)))
    return float(m.hidden or 0) * max(m.ffn_hidden or 0, m.dense_ffn_hidden or 0, heads)


def largest_param_elems(m: ModelSpec, tp):
    """Elements of a transformer's largest single weight matrix on one rank (its TP slice): the embedding / LM
    head (vocab x hidden) or a layer's (``layer_matrix_elems``) -- DeepSpeed ZeRO-3's prefetch overshoot
    (``ds_zero3_live_elems``)."""
    widest = max(float(m.hidden or 0) * (m.vocab or 0), layer_matrix_elems(m))
    return widest / np.asarray(tp, dtype=np.float64)


def scan_unreduced_grad_elems(m: ModelSpec, tp, etp, ep):
    """Elements of the full-size weight gradient a scanned FSDP layer's backward holds before its reduce-scatter
    (``Stack.scan_gathers``: MaxText), per rank: the layer's largest weight array as MaxText stores it -- a dense
    matrix (``layer_matrix_elems`` over TP) or, in an MoE layer, one of the experts' stacked kernels (MaxText
    layers/moe.py ``RoutedMoE``: ``wi_0`` / ``wi_1`` / ``wo`` each [experts, hidden, mlp], one array), over
    expert-TP x EP.

    Why it is live: the weight is sharded over the fsdp axis and the activations over the batch, so its gradient
    is a contraction over the sharded batch; each chip computes the whole matrix's partial sum, then reduce-scatters
    it to its shard -- "dW[F, D] {U_X} = Tmp[B_X, F] *_B dOut[B_X, D]; dW[F, D_X] = ReduceScatter(dW {U_X}) (not
    on the critical path, can be done async)", once per matrix (jax-ml/scaling-book training.md, "Fully-Sharded
    Data Parallelism"); MaxText benchmarks/xla_flags_library.py ``REDUCE_SCATTER_FUSION`` ("Enable AR + DS = RS
    fusion": the partitioner's all-reduce of that partial sum and its dynamic slice). The partial sum is the dot's
    output, in the compute dtype: flax casts the fp32 kernel per use (layers/linears.py ``jnp.asarray(kernel,
    self.dtype)``), so the dot and its transpose run in bf16 and the cast's transpose turns only the shard fp32
    (the ``grads`` term, ``grad_dtype: float32`` in base.yml); MaxText's own base.yml ``pipeline_fsdp_ag_once``
    calls them "the FSDP gathered weights and gradients (typically in bf16)". How many are live: XLA's latency
    hiding scheduler keeps one reduce-scatter in flight (xla/service/latency_hiding_scheduler.h ``SchedulerConfig``
    ``reduce_scatter_overlap_limit = 1``), so the next matrix's partial sum may be written while the last one's
    scatter runs (two), but that overlap is the scheduler's choice under its memory limit (``memory_limit``; the
    TPU compiler fits the program to HBM or fails to compile): the one a reduce-scatter needs whole is the floor
    priced here. Not a whole layer's: the scatters are per matrix (one gradient a dot). Until maxmem42
    (2026-12-05) not priced: GPT-3 175B on v6e-256 +1.13 GiB (its 12288 x 49152 MLP matrix in bf16)."""
    tp = np.asarray(tp, dtype=np.float64)
    dense = layer_matrix_elems(m) / tp
    if m.moe is None:
        return dense
    experts = float(m.moe.experts) * (m.hidden or 0) * (m.ffn_hidden or 0)
    return np.maximum(dense, experts / (np.asarray(etp, dtype=np.float64) * np.asarray(ep, dtype=np.float64)))


def ds_persistent_elems(m: ModelSpec, threshold: float) -> float:
    """Elements DeepSpeed ZeRO-3 keeps whole on every rank (``stage3_param_persistence_threshold``: parameters of
    at most ``threshold`` elements are never partitioned, partition_parameters.py ``ds_persist``): the norm weights
    (``layer_norms`` a layer and the final one, hidden elements each) where hidden <= threshold; biases and per-head
    norms left out."""
    if not m.is_transformer or not m.hidden or m.hidden > threshold:
        return 0.0
    return float((m.layer_norms * m.layers + 1) * m.hidden)


def scan_grad_transient(m: ModelSpec, st, c: Candidates, act_b):
    """Bytes a scanned stack's layer backward holds beside the layer's rebuild, per candidate: the unreduced weight
    gradient (``scan_unreduced_grad_elems``) in the compute dtype ``act_b``, where the gradients are sharded (ZeRO-2
    and above: below, the ``grads`` term holds them whole). Beside the rebuild, not in ``grads``: it lives inside
    the backward scan, after the loss's buffers are freed (``loss_beside_rebuild``). 0 off ``Stack.scan_gathers``."""
    if not (getattr(st, "scan_gathers", False) and m.is_transformer):
        return np.zeros(len(c))
    return np.where(np.asarray(c.zero) >= 2, scan_unreduced_grad_elems(m, c.tp, c.etp, c.ep) * act_b, 0.0)


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


def scan_loss_weights(m: ModelSpec, st, c: Candidates, act_b, layer_gathered):
    """What the loss's backward holds beyond the weights term under a scanned FSDP stack, per candidate: the head's
    unreduced gradient (``scan_head_grad_transient``) and, at ZeRO-3, the head's gathered kernel in place of the
    gathered layer the weights term carries (``layer_gathered``: one gathered layer's bytes, the largest unit at
    the gathered width; ``gathered_blocks``). At the loss no layer is gathered: the forward scan has ended and the backward's first gather
    is at most prefetched (XLA's backward all-gather pipelining, ``Stack.ag_backward_pipelining``, holds that one
    beside the head), so one layer's bytes leave and the head's (gathered at the layers' width, 16-bit) come in;
    negative where the head is the smaller."""
    grad = scan_head_grad_transient(m, st, c, act_b)
    if not (getattr(st, "scan_gathers", False) and m.is_transformer):
        return grad
    return grad + np.where(np.asarray(c.zero) >= 3, head_elems(m, c.tp) * 2.0 - layer_gathered, 0.0)


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
      1.96 GiB in bf16).
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


@dataclasses.dataclass(frozen=True, slots=True)
class StateBytes:
    """Bytes per parameter of the model states (``model_state_bytes_per_param``; a frozen base's per stored
    parameter, finetune.py) and per activation element (``ACT_BYTES``)."""
    weights: float  # the precision's weight bytes, before any FP8 storage (``StateContext.w_held``)
    grads: float
    master: float
    optimizer: float
    state: float  # master + optimizer per trained parameter, before a frozen base zeroes them (offloaded below)
    adapter_optimizer: float  # a frozen base's adapters: the optimizer's bytes per adapter parameter (0 otherwise)
    frozen: bool
    act: float


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
        w_b, g_b, master_b, opt_b = frozen_storage_bytes(m, t) / count_params(m).total, 0.0, 0.0, 0.0
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
    fsdp2_master: bool
    fsdp2_amp_copy: float  # AMP's 16-bit copy bytes the weight term holds on an FSDP2 stack, else 0 (state_weights)
    ds_live: object
    ds_persist: float
    mfsdp_unit: object  # Megatron-FSDP's mean unit (``mfsdp_unit_params``) per key; None on other stacks
    before_last: tuple = ()
    #: per key, the (share of the layer parameters, bytes each) of a bitsandbytes base FSDP2 leaves whole on every
    #: rank (``Stack.bnb_whole_at_cp`` at CP > 1); (0, 0) elsewhere
    bnb_whole: tuple = (0.0, 0.0)  # every rank before the last as (dense, expert, blocks) per key (StageSplit; Muon only)
    #: per key, the dense parameters every rank of the TP group holds whole under an HF EP plan (moe
    #: ``hf_ep_whole_params``: the embedding, head, norms, routers, shared experts and what the plan leaves
    #: unsplit); 0 elsewhere (``dense_rank``)
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
    # for each all-gather): at ZeRO-3 the fp32 master *is* the weight shard, no 16-bit copy of it is kept
    fsdp2_master = fsdp2 and master_b > 0 and not frozen
    # FSDP2 under AMP (``weights: amp``): the weight term's autocast copy is FSDP2's 16-bit unsharded parameter
    # at ZeRO-2/3 (Stack.autocast_finds_fp32), its fp32 part the shard (state_weights)
    fsdp2_amp_copy = float(WEIGHT_COPY_BYTES.get((t.precision, t.weights), 0)) if (
        fsdp2 and not frozen and m.is_transformer and st.autocasts(t)) else 0.0

    ds_live = getattr(st, "zero3_max_live_params", None)
    ds_persist = ds_persistent_elems(m, getattr(st, "zero3_persistence_params", 0.0)) if ds_live is not None else 0.0
    mfsdp_unit = mfsdp_unit_params(m, ktpf, ketp, kep) if st.megatron_fsdp else None  # one per call, both stages'
    # a bitsandbytes base under the stack's FSDP2 (its CP > 1 rows, Stack.bnb_whole_at_cp): the quantised linears whole
    share, q_b = bitsandbytes_layer_bytes(m, t) if getattr(st, "bnb_whole_at_cp", False) else (0.0, 0.0)
    bnb_whole = (np.where(kcp > 1, share, 0.0), q_b)
    return StateContext(m, t, st, b, kpp, ktp, kdp, kcp, kep, kz, ketp, kdsh, kvpp, sinv, ktpf, dps, edps, kzi,
                        f_dense, f_exp, l_dense, l_exp, k_layers, largest, split.first_blocks, split.last_blocks,
                        split_blocks(m, t), *zero_tables, w_held, w_end, dw16,
                        *ends, *lp16, fsdp2, fsdp2_master, fsdp2_amp_copy, ds_live, ds_persist, mfsdp_unit,
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
    grads_held = pp_held | ((kz >= 2) & (x.kpp == 1) & bool(getattr(st, "defer_fsdp_grad_sync", False)))
    return grads_held, held


def ep_experts_unsharded(x: StateContext):
    """Where the routed experts are left out of FSDP2 because EP alone places them (an expert data-parallel shard
    group of one rank): NeMo AutoModel's moe/parallelizer.py ``apply_fsdp`` wraps ``moe_module.experts`` on the
    ``ep_shard`` mesh only ``if ep_shard_enabled`` and passes them to the block's ``fully_shard`` as
    ``ignored_params`` under EP, so each rank holds its experts as plain parameters (one storage, no sharded copy)
    and their ``.grad`` as autograd leaves it. Read on the ``params_16bit`` path only (the entry whose rows have it)."""
    return x.edps <= 1.0


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


def state_weights(x: StateContext, dense, expert, w_b=None, ends=0.0, head=0.0, p16=(0.0, 0.0)):
    """Weight bytes of a stage holding ``dense`` / ``expert`` parameters (per candidate, ``[sinv]``) at ``w_b``
    bytes each (default ``w_held``): sharded at ZeRO-3 (Rajbhandari et al. 2020), whole where held (``_fsdp_held``),
    the 16-bit kept layers' extra, and the gathered window (Megatron-FSDP's units, DeepSpeed ZeRO-3's live window,
    FSDP's block in use and the one prefetched, FSDP2's root unit)."""
    kz, dps, edps, m, st = x.kz, x.dps, x.edps, x.m, x.st
    w_b = x.w_held if w_b is None else w_b
    d = dense_rank(x, dense)
    e = expert / (x.ketp * x.kep)
    weights = (np.where(kz >= 3, (d / dps + e / edps) * (0.0 if x.fsdp2_master else 1.0), d + e) * w_b
               + np.where(kz >= 3, ends / dps, ends) * x.w_end)
    held = _fsdp_held(x)[1]
    # FSDP2 over 16-bit parameters (Stack.params_16bit): the gathered parameters beside the rank's own 16-bit shard
    # (torch _fsdp_param.py: ``_sharded_param_data`` and the all-gather output are separate storages), which no fp32
    # master stands in for; experts EP owns whole (one expert-shard rank, ``ep_experts_unsharded``) are one tensor
    own = ((d / dps + np.where(ep_experts_unsharded(x), 0.0, e / edps)) * w_b
           if (x.fsdp2 and params_16bit(x.st, x.t)) else 0.0)
    weights = np.where(held, (d + e) * w_b + ends * x.w_end + own, weights)
    # the quantised linears FSDP2 does not shard (Stack.bnb_whole_at_cp: accelerate's ignored_params): whole where
    # the rest of the stage is sharded. Until hfstack34 QLoRA at CP > 1 on the HF Trainer held 1/(dp x cp) of them
    share, q_b = x.bnb_whole
    weights = weights + np.where((kz >= 3) & ~held, (d + e) * share * q_b * (1.0 - 1.0 / dps), 0.0)
    if x.fsdp2_amp_copy:
        # FSDP2 at ZeRO-2/3 under AMP: the fp32 parameters are the sharded ones (torch _fsdp_param.py: the sharded
        # parameter is the original's dim-0 shard in its own dtype) and autocast makes no copy
        # (Stack.autocast_finds_fp32); the 16-bit unsharded parameters (the all-gather outputs, ``param_dtype``)
        # are whole where the stage stays gathered (ZeRO-2: no reshard after forward; ``_fsdp_held``), else the
        # gathered window below. Llama-3-8B, torchtitan, dp 64, ZeRO-2: 4/64 + 2 B a parameter, 15.4 GiB (was
        # 6 B whole, 44.9 GiB: DDP's fp32 weights and autocast's copy)
        c = x.fsdp2_amp_copy
        fsdp = (d / dps + e / edps) * (w_b - c) + np.where((kz == 2) | held, (d + e) * c, 0.0)
        weights = np.where(kz >= 2, fsdp, weights)
    d16, e16 = p16[0] / x.ktpf, p16[1] / (x.ketp * x.kep)  # the rank's 16-bit layers' parameters
    weights = weights + np.where((kz >= 3) & ~held, d16 / dps + e16 / edps, d16 + e16) * x.dw16
    if st.megatron_fsdp:  # Megatron-FSDP's gathered units and gradient buckets in flight
        return (weights + _mfsdp_buffers(x, d, e)[0] * np.minimum(w_b, 2.0))[x.sinv]
    if x.ds_live is not None and m.is_transformer:  # DeepSpeed ZeRO-3: its prefetch window, and persistent params whole
        gathered = ds_zero3_live_elems(d + e, largest_param_elems(m, x.ktpf), x.ds_live)
        gathered = gathered + x.ds_persist * (1.0 - 1.0 / dps)
    else:  # FSDP: the block in use and the one prefetched; a scanned stack's one (``gathered_blocks``)
        gathered = gathered_blocks(st) * x.largest
    weights = weights + np.where((kz >= 3) & ~held, gathered * np.minimum(w_b, 2.0), 0.0)
    if x.fsdp2 and m.is_transformer:  # the unit outside the blocks (Stack.fsdp2_root): 16-bit, never float8
        weights = weights + np.where((kz >= 3) & ~held, fsdp2_root_gather_params(
            st.fsdp2_root, ends, head, x.largest, m.moe is not None) * np.minimum(x.b.weights, 2.0), 0.0)
    return weights[x.sinv]


def state_grads(x: StateContext, dense, expert):
    """Gradient bytes of a stage (per candidate, ``[sinv]``): the ZeRO stage's whole, sharded and bucket bytes
    (``zero_stage_states``) and its buffer of the rank's largest parameter (``largest_param_elems``: DeepSpeed's
    ``temp_grad_buffer_for_gpu_offload``), whole where FSDP holds them unsharded (``_fsdp_held``), Megatron-FSDP's
    gradient buckets, FSDP2's unsharded gradient and reduce-scatter input (``fsdp2_reduce_buffer_bytes``)."""
    kz, kzi, g_b = x.kz, x.kzi, x.b.grads
    d = dense_rank(x, dense)
    e = expert / (x.ketp * x.kep)
    grads = (d + e) * x.g_whole[kzi] + (d / x.dps + e / x.edps) * x.g_shard[kzi] + x.g_bucket[kzi]
    if x.m.is_transformer and np.any(x.g_largest):
        grads = grads + x.g_largest[kzi] * largest_param_elems(x.m, x.ktpf)
    # held unsharded: FSDP2 accumulates in its reduce dtype (``g_b``); experts left out of FSDP
    # (``ep_experts_unsharded``) keep autograd's ``.grad``, in the parameters' dtype (16-bit under Stack.params_16bit)
    e_b = np.where(ep_experts_unsharded(x), x.b.weights, g_b) if (x.fsdp2 and params_16bit(x.st, x.t)) else g_b
    grads = np.where(_fsdp_held(x)[0], d * g_b + e * e_b, grads)
    if x.st.megatron_fsdp:
        return (grads + _mfsdp_buffers(x, d, e)[1] * g_b)[x.sinv]
    if x.fsdp2 and not x.b.frozen:  # the unsharded gradient and the reduce-scatter input of the units in backward
        grads = grads + np.where(kz >= 2, fsdp2_reduce_buffer_bytes(x.largest, x.b.act, g_b), 0.0)
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
        layer_buf = fsdp2_reduce_buffer_bytes(x.largest, x.b.act, x.b.grads)
        fsdp2_head = [np.where(x.kz >= 2, fsdp2_reduce_buffer_bytes(x.largest, x.b.act, x.b.grads, h, x.st.fsdp2_root,
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
        # walk holds the copies as autocast caches them (zero < 3) or there are none (ZeRO-3)
        fw = np.where(walked, state_weights(x, x.f_dense, x.f_exp, x.b.weights - 2.0), fw)
        lw = np.where(walked, state_weights(x, x.l_dense, x.l_exp, x.b.weights - 2.0), lw)
    if walked is not None and x.st.name == "hf-trainer":
        # one process, no sharding: no DistributedDataParallel wrapper (transformers Trainer
        # ``_wrap_model`` wraps in DDP only ``if self.args.local_rank != -1``; accelerate's
        # ``prepare_model`` only under a multi-process DistributedType), so no reducer buckets: the
        # gradients are autograd's ``.grad`` tensors alone, which the walk holds (_hf_walk_arrays).
        # DeepSpeed's engine keeps its own gradient buffers at any world size: not this rule
        solo = walked & (c.zero == 0) & (c.dp * c.tp * c.cp == 1)
        fg, lg = np.where(solo, 0.0, fg), np.where(solo, 0.0, lg)
    return dataclasses.replace(s, fw=fw, lw=lw, fg=fg, lg=lg)


def adapter_states(x: StateContext, s: StageStates, layers, tp) -> StageStates:
    """lora/qlora: fp32 adapters, their fp32 gradients and optimizer state, split like the layers
    (finetune.adapter_params, ``ADAPTER_BYTES``), and sharded over the ZeRO group as the stage shards any trainable
    parameter's (Rajbhandari et al. 2020): the optimizer state from ZeRO-1, the gradients from ZeRO-2, the adapters
    themselves at ZeRO-3 (FSDP's flat parameters hold them beside the frozen base, ``use_orig_params``). Until QA 43
    they were whole on every rank: QLoRA Llama-3.1-70B at DP8 ZeRO-3 held 2.31 GiB of adapter state per GPU, not 0.29."""
    total = adapter_params(x.m, x.t)
    # the adapters of what an HF EP plan leaves whole are whole on every rank (finetune.adapter_whole_params; until
    # hfep35 all over TP)
    # (and at EP 1 those a TP plan leaves whole, moe HF_TP_PLANS: DeepSeek-V3's attention; until dsep35 over TP)
    plan, tplan = moe_mech_plan(x.m, x.st), hf_tp_plan(x.m, x.st)
    held = np.asarray(x.ep_whole)[x.sinv] > 0
    ep1 = np.asarray(x.kep)[x.sinv] == 1
    whole = (adapter_whole_params(x.m, x.t, plan.attention, plan.dense_mlp) * held * ~ep1 if plan is not None else 0.0)
    if tplan is not None:
        whole = whole + adapter_whole_params(x.m, x.t, tplan.attention, tplan.dense_mlp, moe_split=tplan.moe) * held * ep1
    ad = ((total - whole) / tp + whole) * layers / x.m.layers
    kz, dps = x.kz[x.sinv], x.dps[x.sinv]
    w = ad * ADAPTER_BYTES / np.where(kz >= 3, dps, 1.0)
    g = ad * ADAPTER_BYTES / np.where(kz >= 2, dps, 1.0)
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
    (QA 51)."""
    dispatcher = getattr(st, "moe_dispatcher", "alltoall")
    if m.moe is None or dispatcher == "alltoall":
        return np.zeros(len(c))
    tokens = c.mb * seq / (c.cp * c.tp)  # the rank's sequence-parallel share entering the dispatch
    return dispatcher_buffer_bytes(dispatcher, m.expert_io, m.moe.experts, tokens, c.ep, c.etp, c.gpus_per_node)


def offload_host_rows(x: StateContext) -> tuple:
    """(host bytes per offloaded parameter always held, those held only with gradient accumulation) per candidate:
    the optimizer wrapper's own host buffers at the candidate's ZeRO stage (``stacks.ZeroStageStates``
    ``host_bit16_bytes`` / ``host_accum_bytes``, DeepSpeed's, read from stage_1_and_2.py there); 0 for a stack
    without a ZeRO table."""
    from planner.model.stacks import zero_state_rows

    rows = zero_state_rows(x.st, x.t)
    if rows is None:
        return 0.0, 0.0
    return tuple(np.array([getattr(r, k) for r in rows])[x.kzi][x.sinv]
                 for k in ("host_bit16_bytes", "host_accum_bytes"))


def optimizer_offload(x: StateContext, s: StageStates) -> StageStates:
    """Master + moments move to host RAM (model.offload) with the wrapper's host buffers (``offload_host_rows``); under
    a frozen base, the adapters' state (fp32 adapters keep no master: their optimizer state alone, added by
    ``adapter_states``)."""
    st, b = x.st, x.b
    if not (st.optimizer_offload and b.state > 0):
        return s
    fw, lw, fo, lo = s.fw, s.lw, s.fo, s.lo
    state = b.adapter_optimizer if b.frozen else b.state
    bit16, accum = offload_host_rows(x)
    # FSDP2's host gradient is the reduced shard in the sharded parameter's dtype (torch _fsdp_collectives.py
    # ``foreach_reduce``: ``_to_dtype_if_needed(reduce_output, orig_dtype)`` before ``.to(torch.device("cpu"))``), the
    # ZeRO-2/3 shard bytes ``zero_stage_states`` gives (2 B for 16-bit parameters; until ds47 counted 4 B); fp32 adapters
    # and the other stacks' fp32 copy keep ``offload.HOST_GRAD_BYTES``
    grad = (np.where(x.kz >= 2, x.g_shard[x.kzi], offload.HOST_GRAD_BYTES)[x.sinv] if x.fsdp2 and not b.frozen
            else offload.HOST_GRAD_BYTES)
    host_f, host_l = (offload.host_optimizer_bytes(o, state, bit16, grad) for o in (fo, lo))
    acc_f, acc_l = (offload.offloaded_params(o, state) * accum for o in (fo, lo))
    fo, lo = fo * 0.0, lo * 0.0
    if b.frozen and x.fsdp2:
        # FSDP2 CPUOffloadPolicy moves every parameter's shard to the host, the frozen base's too (torch
        # _fsdp_param.py ``_init_sharded_param``: ``padded_sharded_param.cpu()`` under ``offload_to_cpu``,
        # whatever ``requires_grad``): at ZeRO-3 its stored shard leaves the weight term for the host
        base_f, base_l = (np.where(x.kz >= 3, (dd / x.ktpf / x.dps + ee / (x.ketp * x.kep) / x.edps) * b.weights,
                                   0.0)[x.sinv] for dd, ee in ((x.f_dense, x.f_exp), (x.l_dense, x.l_exp)))
        fw, lw, host_f, host_l = fw - base_f, lw - base_l, host_f + base_f, host_l + base_l
    return StageStates(fw, lw, s.fg, s.lg, fo, lo, host_f, host_l, acc_f, acc_l)


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
        x1 = dataclasses.replace(x, st=dataclasses.replace(x.st, defer_fsdp_grad_sync=False))
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


@dataclasses.dataclass(frozen=True, slots=True)
class ActivationTerms:
    """Activations and logits of the first and the last pipeline stage (bytes per GPU per candidate), and the
    activations offloaded to host RAM per GPU (``host``, added to either stage's)."""
    first_act: object
    last_act: object
    first_logits: object
    last_logits: object
    host: object = 0.0
    #: rank 0's activations apart (``RankActivations``), where the layers are priced per rank (a transformer); None:
    #: ``first_act`` is rank 0's, no middle rank told apart
    rank0_act: object = None
    #: per middle rank that can peak (``middle_rank_of``'s groups, mem43b), its activations and its rank per row
    #: (-1 where the row's split has no such rank)
    middle_act: tuple = ()
    middle_rank: tuple = ()
    #: per middle rank, the rows whose figure was priced (``middle_activations``: where the row has such a rank and,
    #: in the search, where the rank can beat rank 0); its activations elsewhere are 0 and unread
    middle_priced: tuple = ()


def layer_saves(m: ModelSpec, t: TrainingSpec, given, st, c: Candidates, seq, b: StateBytes, memo, keys, krc):
    """(mean saved bytes of one layer, the extra peak while one layer is rebuilt, that peak of each layer kind apart:
    {``layer_kinds`` name: bytes}, empty for a frozen base's one mean layer) at the activation keys ``keys``
    (tp, cp, sp, mb, ep, a2a: the a2a group of a2a+p2p CP, ``cp_a2a_keys``) and recompute codes ``krc``: the
    fused-kernel table (activations.mean_layer_activation_bytes, recompute_working_set; Korthikanti et al. 2022), a
    frozen base's peft saves (finetune.py), through the search's memo where there is one."""
    ktp, kcp, ksp, kmb, kep, ka2a = keys
    frozen = b.frozen
    # the table's settings, one value for every key (what the memo's setting holds, with the stack's fused softmax keys)
    tkw = dict(flash=t.flash_attention, dropout=t.dropout, act_bytes=b.act,
               **stack_table_kw(st, t.precision, recompute_modules(t, st, m), m))

    def saves_at(tp_, cp_, sp_, mb_, rc_, ep_, a2a_):
        """(mean saved bytes of one layer, the extra peak while one layer is rebuilt) at layer keys"""
        if frozen:  # lora/qlora: what peft on the HF model code saves (finetune.py)
            # the peft saves over the cp split, a TP rank keeping hf_tp_share of them (until hfsp34: / tp), or under
            # an HF EP plan hf_ep_rank_share (until hfep35 only the attention whole)
            share = np.asarray(hf_tp_share(m, seq, mb_, tp_, sp_.astype(bool), rc_), dtype=np.float64)
            on_ep, plans = hf_ep_rows(m, st, tp_, ep_)
            if np.any(on_ep):
                from planner.model.activations_hf import hf_attn_impl
                prec = "fp32" if t.mode == "qlora" else HF_PRECISION[t.precision]
                impl = hf_attn_impl(m, t.flash_attention, hf_attn_choice(st, m, t))
                share = np.broadcast_to(share, np.shape(on_ep)).copy()
                for i in np.flatnonzero(on_ep):
                    share[i] = hf_rank_share(m, seq, np.broadcast_to(mb_, share.shape)[i],
                                             np.broadcast_to(tp_, share.shape)[i], False,
                                             np.broadcast_to(rc_, share.shape)[i], plans[on_ep[i]], prec, impl)
            return (*frozen_layer_activation_bytes(m, t, seq, mb_, rc_, cp_ / share, stack=st), {})
        # the keys whose explicit softmax keeps an fp32 output: Megatron's torch fallback by the step time's rule
        fb = saved_softmax_fp32(st, m, seq, mb_, tp_, cp_, b.act)
        kw = dict(tp=tp_, cp=cp_, sp=sp_.astype(bool), ep=ep_, fp32_softmax=fb, **tkw)
        per_layer = mean_layer_activation_bytes(m, seq, mb_, recompute=rc_, **kw)
        kw["cp_a2a"] = a2a_  # (the ring of a2a+p2p CP runs over cp / a2a: its buffers, recompute_working_set)
        each = kind_rebuilds(m, seq, mb_, rc_, kw)
        # the model's: the largest any layer rebuilds; each kind's apart (``stage_kind_rws``: a rank's own kinds)
        return per_layer, functools.reduce(np.maximum, each.values()), each

    # a search's memo (step_time.LayerMemo) keeps these rows across its calls: each row depends only on its key
    # and on the setting (the model, the held training spec, the stack's table keywords, seq), not on the
    # other rows (elementwise), and the chunks, probes and stack variants of a search meet the same keys. The held
    # spec enters as the caller's (the same object across a search) and the weights held_training set: its
    # fresh copy per call (HF Trainer's autocast) added one memo entry a call, each kept alive by the memo
    setting = (("memory.layer_saves", memo.value(m), memo.value(given), t.weights, float(seq), frozen,
                tuple(sorted(tkw.items())), getattr(st, "fused_softmax_keys", 0), getattr(st, "explicit_softmax", ""))
               if memo is not None and np.ndim(seq) == 0 else None)
    if setting is None:
        return saves_at(ktp, kcp, ksp, kmb, krc, kep, ka2a)
    keys = (ktp, kcp, ksp, kmb, krc, kep, ka2a)

    def rows(i):
        per_layer, rws, each = saves_at(*(k[i] for k in keys))
        return {"per_layer": per_layer, "rws": rws, **{"rws " + k: v for k, v in each.items()}}
    got = memo.rows(setting, keys, rows)
    return got["per_layer"], got["rws"], {k[4:]: v for k, v in got.items() if k.startswith("rws ")}


def kind_rebuilds(m: ModelSpec, seq, mb, rc, kw: dict) -> dict:
    """One layer's rebuild peak of each kind the model has (activations.recompute_working_set at ``kw``, the table's
    keywords ``layer_saves`` passes): a hybrid's blocks by pattern symbol (a hybrid layer is one block), else
    "dense" and, with MoE layers, "moe"."""
    if m.hybrid:
        return {k: recompute_working_set(m, seq, mb, recompute=rc, moe=k == "E", kind=k, **kw)
                for k in HYBRID_LAYER if m.kind_layers(k)}
    each = {"dense": recompute_working_set(m, seq, mb, recompute=rc, moe=False, **kw)}
    if m.moe_layers:
        each["moe"] = recompute_working_set(m, seq, mb, recompute=rc, moe=True, **kw)
    return each


def layer_kind_saves(m: ModelSpec, t: TrainingSpec, given, st, c: Candidates, seq, b: StateBytes, memo, keys, krc):
    """Saved bytes of one layer of each kind (``layer_kinds``: "dense" / "moe", or a hybrid's pattern symbols) at
    the keys of ``layer_saves`` (whose mean over the model's layers they are: activations.mean_layer_activation_bytes
    weighs these by their counts), or None where the model's layers are of one kind or a frozen base's peft saves
    price them (finetune.py: one mean layer). A pipeline stage sums its own layers' (``stage_kind_bytes``)."""
    names = sorted(set(layer_kinds(m)))
    if len(names) < 2 or b.frozen:
        return None
    ktp, kcp, ksp, kmb, kep, _ = keys
    tkw = dict(flash=t.flash_attention, dropout=t.dropout, act_bytes=b.act,
               **stack_table_kw(st, t.precision, recompute_modules(t, st, m), m))

    def kinds_at(tp_, cp_, sp_, mb_, rc_, ep_):
        kw = dict(tp=tp_, cp=cp_, sp=sp_.astype(bool), ep=ep_, recompute=rc_,
                  fp32_softmax=saved_softmax_fp32(st, m, seq, mb_, tp_, cp_, b.act), **tkw)
        if m.hybrid:
            return {k: layer_activation_bytes(m, seq, mb_, moe=k == "E", kind=k, **kw) for k in names}
        return {k: layer_activation_bytes(m, seq, mb_, moe=k == "moe", **kw) for k in names}

    setting = (("memory.layer_kind_saves", memo.value(m), memo.value(given), t.weights, float(seq),
                tuple(sorted(tkw.items())), getattr(st, "fused_softmax_keys", 0), getattr(st, "explicit_softmax", ""))
               if memo is not None and np.ndim(seq) == 0 else None)
    if setting is None:
        return kinds_at(ktp, kcp, ksp, kmb, krc, kep)
    cols = (ktp, kcp, ksp, kmb, krc, kep)
    return memo.rows(setting, cols, lambda i: kinds_at(*(k[i] for k in cols)))


def _kind_saves(m: ModelSpec, t: TrainingSpec, given, st, c: Candidates, seq, b: StateBytes, memo, keys, codes, inv,
                rws, every, raw=None):
    """Each layer kind's saves per candidate (``layer_kind_saves`` at the recompute codes ``codes`` = (the rows', the
    same rows' without recompute), gathered by ``inv``) through the partial recompute the mean layer takes
    (``_partial_recompute_saves``: a stage's recomputed share f of every kind's layers), or None. ``raw`` (a dict):
    given, receives "full" (each kind at the rows' codes) and "none" (a callable: each kind without recompute)."""
    krc, krc0 = codes
    kinds = layer_kind_saves(m, t, given, st, c, seq, b, memo, keys, krc)
    if kinds is None:
        return None
    kinds0 = {}

    def kind0(k):  # the unrecomputed saves, computed once and only where a partial-recompute row needs them
        if not kinds0:
            kinds0.update(layer_kind_saves(m, t, given, st, c, seq, b, memo, keys, krc0))
        return [kinds0[k][inv], rws]
    if raw is not None:  # each kind at the rows' code and without recompute (chunk_activations' rebuilt chunks)
        raw["full"] = {k: x[inv] for k, x in kinds.items()}
        raw["none"] = lambda: {k: kind0(k)[0] for k in kinds}
    return {k: _partial_recompute_saves(m, t, c, x[inv], rws, lambda k=k: kind0(k), every)[0]
            for k, x in kinds.items()}


@functools.lru_cache(maxsize=512)
@functools.lru_cache(maxsize=512)
def _middle_reps(sig: tuple, k: int, v: int, counts: tuple, prune: bool = False) -> tuple[int, ...]:
    """The middle ranks (1 .. pp - 2) of one split (``counts`` per virtual stage, virtual stage j pp + r chunk j of
    rank r) that can hold the middle ranks' peak, ascending: the first rank of each distinct content, ``sig`` one
    hashable per global layer (its kind, parameters and whether it is kept 16-bit: ``_layer_signatures``), chunk by
    chunk. Two ranks of the same content hold the same states and the same bytes a micro-batch, and the earlier one
    holds at least as many micro-batches in flight (1F1B: pp - r, Megatron-Core schedules.py
    ``num_warmup_microbatches = pipeline_parallel_size - pipeline_parallel_rank - 1`` and one steady forward;
    interleaved: a later rank runs a prefix of the earlier one's forwards, ``pipeline.chunk_inflight``), so only the
    first can peak. Rank 1 is always the first. Empty for pp <= 2 and DualPipeV's V (no rank between the ends).
    ``prune`` (where each chunk's bytes are its layers' sum by kind: ``_prune_middle``): also a rank no more of whose
    layers of any kind on any chunk, parameters (dense, expert, 16-bit kept) than an earlier rank's kept here hold:
    its states, saves chunk by chunk and rebuild are no larger, its micro-batches in flight no more."""
    if v == V_SPLIT or k <= 2:
        return ()
    edges = np.cumsum((0,) + counts)
    chunks = [tuple(sig[edges[j * k + r]:edges[j * k + r + 1]] for j in range(v)) for r in range(k)]
    seen = {}
    for r in range(1, k - 1):
        seen.setdefault(chunks[r], r)
    reps = sorted(seen.values())
    if not prune:
        return tuple(reps)
    kinds = sorted({x[0] for x in sig})
    load = {r: np.array([sum(x[0] == q for x in ch) for ch in chunks[r] for q in kinds]
                        + [sum(x[i] * (x[3] if kept else 1) for ch in chunks[r] for x in ch)
                           for i in (1, 2) for kept in (False, True)]) for r in reps}
    kept = []
    for r in reps:
        if not any((load[q] >= load[r]).all() for q in kept):
            kept.append(r)
    return tuple(kept)


@functools.lru_cache(maxsize=512)
def _rank0_covers(sig: tuple, k: int, v: int, counts: tuple) -> tuple[bool, ...]:
    """Per pipeline rank of one split (``_middle_reps``' arguments): whether rank 0 holds, chunk by chunk, every
    layer that rank holds (the same ``_layer_signatures`` entry: kind, parameters, 16-bit keep), i.e. rank 0's
    chunk j is that rank's chunk j plus further layers; all False under DualPipeV's V (no middle rank)."""
    if v == V_SPLIT or k <= 2:
        return (False,) * max(k, 0)
    edges = np.cumsum((0,) + counts)
    held = [[collections.Counter(sig[edges[j * k + r]:edges[j * k + r + 1]]) for j in range(v)] for r in range(k)]
    return tuple(all(not (held[r][j] - held[0][j]) for j in range(v)) for r in range(k))


def middle_settled(m: ModelSpec, st, c: Candidates, group: int) -> np.ndarray:
    """Per row, whether the ``group``-th middle rank that can peak (``middle_rank_of``) provably holds no more memory
    than rank 0, so the search (``memory_per_gpu`` without ``ranks``) need not price it: its figure can only
    lose to rank 0's (``peak_rank_class`` takes the middle where it is strictly larger), and only where it wins
    does it reach an output. A sound bound, not an estimate: where it holds, the exact figures obey
    total(middle) <= total(rank 0).

    Proof. Where rank 0's chunk j holds every layer the middle rank r's chunk j holds (``_rank0_covers``: the same
    kind, dense and expert parameters and 16-bit keep), for every j:

    * states: rank r's weights, gradients and optimizer are sums over its layers' parameters (``state_weights``,
      ``state_grads``, ``state_optimizer``: per-parameter bytes, ZeRO / FSDP shards and buckets, Muon's split by
      matrix, each nondecreasing in the parameters held) and rank 0 holds those layers, further ones and the
      embedding (``ends``), each adding bytes >= 0; the gathered windows (``largest``) are per state key, the same
      for both;
    * saves: a chunk's bytes are its layers' sum by kind (``stage_kind_bytes``, ``chunk_activations``: without
      partial recompute, the rows this bound keeps) and rank 0's chunks hold a superset, while rank 0 holds at
      least rank r's micro-batches in flight on every chunk (1F1B pp - 0 >= pp - r; interleaved: rank r runs a
      prefix of rank 0's forwards, ``pipeline.chunk_inflight``; GPipe and DualPipe alike on every rank), plus the
      embedding's output;
    * rebuild: the largest of the rank's own kinds' (``stage_kind_rws``), and rank 0 holds each kind rank r does;
    * logits and the loss beside them are every rank class's ``first_logits``; ``other`` grows with activations.

    Every step is a sum or product of nonnegative terms, and IEEE rounding is monotone, so the inequality holds
    for the computed figures too. Not settled (priced exactly): rows under partial full recompute (Megatron's block
    / uniform N: a chunk's kept inputs sit at its first layers' kinds, not a superset's), torchtitan's layer SAC (a
    rank's share by position), combined 1F1B (the MoE all-to-all overlap: a pair's one layer is its chunk's mean
    layer, and a later rank may run pairs rank 0 does not), and a model priced per sample (no ranks). tests/
    test_speed44.py checks the bound against the exact figures on random rows."""
    n = len(c)
    if not n or not m.is_transformer or not m.layers or not _prune_middle(m, st, None):
        return np.zeros(n, dtype=bool)
    splits, lay = _row_splits(m, st, c) if isinstance(c, Candidates) else _find_row_splits(m, st, c)
    sig = _layer_signatures(m, st)
    cover = np.array([group < len(reps) and _rank0_covers(sig, k, v, counts)[reps[group]]
                      for (k, v, counts), reps in ((s, split_middle_reps(m, st, c, *s)) for s in splits)], dtype=bool)
    return cover[lay] & ~_partial_rows(c)


def _partial_rows(c) -> np.ndarray:
    """Per row, whether it runs partial full recompute (``rc`` full with a block or uniform N)."""
    n = len(c)
    rc, rn, rg = (np.broadcast_to(np.asarray(x), (n,)) for x in (c.rc, getattr(c, "rn", 0), getattr(c, "rg", 1)))
    return (rc == 2) & ((rn > 0) | (rg > 1))


def _prune_middle(m: ModelSpec, st, c) -> bool:
    """Whether ``_middle_reps`` may drop a middle rank another earlier one holds more of everything than: each chunk's
    saved bytes then grow with its layers of each kind. Not under partial full recompute (Megatron's block / uniform
    N: a chunk's kept inputs sit at its first layers' kinds, ``_chunk_rebuilt_counts``), torchtitan's layer SAC (a
    rank's share by position) or combined 1F1B (a pair's one layer is its chunk's mean layer). ``c`` None: the model's
    and the stack's conditions alone (``middle_settled`` excludes the partial-recompute rows itself)."""
    if getattr(st, "layer_sac_every", 0) or (m.moe is not None and getattr(st, "moe_a2a_overlap", False)):
        return False
    return c is None or not _any_partial_recompute(c)


_PARTIAL_LAST: list = [None, False]  # ((rc, rn, rg) arrays, their answer): ``_any_partial_recompute``'s one entry


def _any_partial_recompute(c) -> bool:
    """Whether any row of ``c`` runs partial full recompute (``rc`` full with a block or uniform N). One call asks it
    once per split of the same rows (38,752 times in one DeepSeek-V3 search, each an O(n) pass: 2.3 of 33 CPU s), so
    the last rows' answer is kept while the call's columns are the same array objects (no code writes into them)."""
    key = tuple(np.asarray(x) for x in (c.rc, getattr(c, "rn", 0), getattr(c, "rg", 1)))
    last = _PARTIAL_LAST[0]
    if last is not None and all(a is b for a, b in zip(last, key)) and all(a.ndim for a in key):
        return _PARTIAL_LAST[1]
    rc, rn, rg = key
    got = bool(np.any((rc == 2) & ((rn > 0) | (rg > 1))))
    _PARTIAL_LAST[0], _PARTIAL_LAST[1] = key, got
    return got


def split_middle_reps(m: ModelSpec, st, c, k: int, v: int, counts: tuple) -> tuple[int, ...]:
    """``_middle_reps`` of one split of the rows ``c`` (pruned where ``_prune_middle``): the one list every middle
    figure of a call reads (``middle_rank_of``, ``stage_kind_bytes``, ``stage_kind_rws``, ``chunk_activations``,
    ``rank_block_activations``)."""
    return _middle_reps(_layer_signatures(m, st), k, v, tuple(int(x) for x in counts), _prune_middle(m, st, c))


class _Signatures(tuple):
    """``_layer_signatures``' tuple with its hash computed once: ``_middle_reps`` and ``_rank0_covers`` are cached
    on it, asked tens of thousands of times a search (a DeepSeek-V3 search's 35,560 ``split_middle_reps`` calls each
    hashed its 61 layers' entries again; speed44). Equal to, and hashing as, the plain tuple."""

    def __hash__(self):
        got = self.__dict__.get("_hash")
        if got is None:
            got = self.__dict__["_hash"] = tuple.__hash__(self)
        return got


_SIGNATURES: dict = {}  # id(model) -> (model, lp16 ranges, signatures): ``_layer_signatures``, a few models a search


def _layer_signatures(m: ModelSpec, st) -> tuple:
    """One hashable per global layer for ``_middle_reps``: its ``layer_kinds`` kind, its (dense, expert) parameters
    (memory_stages ``layer_params``) and whether Megatron-Core keeps it 16-bit under the fp8/fp4 recipe
    (``pipeline.lp16_layers``' global ranges). Kept per model object (a ModelSpec is not hashable; the entry holds it,
    so its id is not reused)."""
    first, last = (int(getattr(st, q, 0) or 0) for q in ("lp_bf16_first_layers", "lp_bf16_layers"))
    got = _SIGNATURES.get(id(m))
    if got is not None and got[0] is m and got[1] == (first, last):
        return got[2]
    dense, exp = layer_params(m)
    n = len(dense)
    sig = _Signatures((q, float(d), float(e), i < first or i >= n - last)
                      for i, (q, d, e) in enumerate(zip(layer_kinds(m), dense, exp)))
    if len(_SIGNATURES) >= 16:
        _SIGNATURES.clear()
    _SIGNATURES[id(m)] = (m, (first, last), sig)
    return sig


def middle_groups(m: ModelSpec, st, c) -> int:
    """How many middle ranks of the rows' splits can peak (``_middle_reps``, the most of any row): the middle rank
    class is priced once for each (``rank_class_rows``), 1 where the middle ranks are alike."""
    if not m.is_transformer or not m.layers or not len(c):
        return 0
    splits, _ = _row_splits(m, st, c) if isinstance(c, Candidates) else _find_row_splits(m, st, c)
    return max((len(split_middle_reps(m, st, c, k, v, counts)) for k, v, counts in splits), default=0)


def middle_rank_of(m: ModelSpec, st, c, group: int = 0, keys=None) -> tuple[np.ndarray, np.ndarray]:
    """(rank, its layers) per row of the ``group``-th middle rank that can peak (``_middle_reps``): rank 1 for group
    0, -1 (and rank 1's layers, unread) where the row's split has no such rank. ``keys``: (each row's key, the
    number of keys), the figures per key instead (a key's rows share one split: ``rank_activations``' keys)."""
    if keys is not None:
        got = middle_rank_of(m, st, c, group)
        out = tuple(np.zeros(keys[1], dtype=x.dtype) for x in got)
        for k_, x in zip(out, got):
            k_[keys[0]] = x
        return out
    if isinstance(c, Candidates):  # found once per rows and split (a call asks for each group a few times)
        return c.kept(f"memory.middle_rank_of.{group}", lambda: _middle_rank_rows(m, st, c, group),
                      ("pp", "split_vpp", "tp", "rc", "rn", "rg"), m, st)
    return _middle_rank_rows(m, st, c, group)


def _middle_rank_rows(m: ModelSpec, st, c, group: int) -> tuple[np.ndarray, np.ndarray]:
    """``middle_rank_of`` found."""
    n = len(c)
    if not n or not m.is_transformer or not m.layers:
        return np.full(n, -1, dtype=np.intp), np.zeros(n)
    splits, lay = _row_splits(m, st, c) if isinstance(c, Candidates) else _find_row_splits(m, st, c)
    # per split (a few), then gathered: one pass over the rows, not one a split (speed44)
    tab_r, tab_h = np.empty(len(splits), dtype=np.intp), np.empty(len(splits))
    for i, (k, v, counts) in enumerate(splits):
        reps = split_middle_reps(m, st, c, k, v, counts)
        tab_r[i] = r = reps[group] if group < len(reps) else -1
        tab_h[i] = rank_sums(counts, k, v)[r if r >= 0 else min(1, k - 1)]
    return tab_r[lay], tab_h[lay]


def _layout_kind_shares(lk: tuple, names: tuple, k: int, v: int, counts: tuple, rank: int = -1) -> np.ndarray:
    """(kinds x (2 + mixes)) of one split (``counts`` per virtual stage, virtual stage j on rank ``stage_ranks``):
    rank 0's layers of each kind over its layer count, the last rank's over its, and middle rank ``rank``'s over its
    own (``middle_rank_of``; mem43b); under DualPipeV's V each distinct kind mix of every rank but 0 over the fullest
    (``stage_layer_ends``); with no middle rank (pp <= 2, ``rank`` -1) rank 0's again (memory_stages
    ``stage_layer_microbatches`` reads 0 there). ``lk`` the model's ``layer_kinds``. Cached: a search meets the same few
    splits in every chunk."""
    ranks = rank_kind_layers(kind_weights(lk, names), counts, k, v)  # kinds x ranks
    held = ranks.sum(axis=0)
    if v != V_SPLIT:
        own = ranks[:, rank:rank + 1] / max(held[rank], 1.0) if rank > 0 else ranks[:, :1] / max(held[0], 1.0)
        out = np.concatenate([ranks[:, :1] / max(held[0], 1.0), ranks[:, k - 1:k] / max(held[k - 1], 1.0), own], axis=1)
        out.setflags(write=False)
        return out
    mid = list(range(1, k))
    # (a V over one rank, DualPipeV at pp 1, has no rank past 0 and no middle rank: n1 is unread there, and max()
    # of nothing raised on such a row, fuzz42)
    n1 = max(held[1:], default=0)
    first = ranks[:, :1] / max(held[0], 1.0)
    mixes = (np.array(sorted(set(map(tuple, ranks[:, mid].T.tolist())))).T / max(n1, 1.0) if mid else first)
    out = np.concatenate([first, ranks[:, k - 1:k] / max(held[k - 1], 1.0), mixes], axis=1)
    out.setflags(write=False)
    return out


def stage_kind_bytes(m: ModelSpec, st, c: Candidates, kinds, group: int = 0):
    """(rank 0, the peak middle rank, the last rank) saved bytes per layer of each rank's own layers, per candidate:
    the rank's layers of each kind (the split --emit launches, ``split_per_row`` at ``split_runtime``, virtual stage
    j on rank ``stage_ranks``; as memory_stages ``_split_stage_params`` counts their parameters) times that kind's bytes
    (``kinds``, ``layer_kind_saves``), over the rank's layer count. The middle one is the ``group``-th middle rank
    that can peak (``middle_rank_of``) over its own count; until mem43b the largest sum of any rank between the
    ends over rank 1's count, a bound paired with rank 1's micro-batches in flight. Under DualPipeV's V (no rank
    between the ends) the largest mix of every rank but 0 over the fullest one's count. Until stagekinds38 every rank's layer was the model's mean layer: DeepSeek-V3's rank 0
    under Megatron-Bridge's ``Et*4|...`` layout (3 dense + 1 MoE layers) read 4 mean layers, 1,935 KB a token
    against its own 1,610 (bf16, TP 1, no recompute; tests/test_stagekinds38.py)."""
    names = tuple(sorted(kinds))
    lk = layer_kinds(m)
    n = len(c)
    if not n:  # no rows, no layout: the table below is stacked from one matrix per layout (fuzz42: an empty batch
        # of a model with several layer kinds raised max() of nothing)
        return (np.zeros(0),) * 3
    per = np.stack([np.broadcast_to(np.asarray(kinds[k], dtype=np.float64), (n,)) for k in names])
    # per distinct layout (a few): each kind's share of rank 0's, the last rank's and each middle kind mix's
    # layers over the count the rank's layer-micro-batches take, gathered to the rows (no loop per candidate)
    splits, lay = _row_splits(m, st, c)
    reps = [split_middle_reps(m, st, c, k, v, counts) for k, v, counts in splits]
    coef = [_layout_kind_shares(lk, names, k, v, counts, r[group] if group < len(r) else -1)
            for (k, v, counts), r in zip(splits, reps)]  # (kinds x (2 + mixes)) each
    width = max(x.shape[1] for x in coef)
    # a layout with fewer mixes repeats its first (the max over them unchanged)
    tab = np.stack([np.concatenate([x, np.repeat(x[:, 2:3], width - x.shape[1], axis=1)], axis=1) for x in coef])
    # a column at a time, the kinds summed in order (elementwise: a row's value whatever the batch around it)
    got = [sum(tab[lay, q, j] * per[q] for q in range(len(names))) for j in range(width)]
    w0, wl, w1 = got[0], got[1], np.maximum.reduce(got[2:])
    if getattr(st, "activation_offload", False):  # pp 1 only (offload.valid_mask): the GPU keeps the last layers
        solo = np.asarray(c.pp) == 1
        w0 = np.where(solo, offload_kind_bytes(m, st, kinds)[1], w0)
    return w0, w1, wl


def _row_splits(m: ModelSpec, st, c: Candidates) -> tuple:
    """(the distinct splits ((pp, vpp, counts per virtual stage), the one --emit launches: ``split_per_row`` at
    ``split_runtime``), each row's index among them): ``stage_kind_bytes`` and ``stage_kind_rws`` read the rows'
    layer kinds per split, not per row; found once per Candidates (``Candidates.kept``: both read it in a call)."""
    if isinstance(c, Candidates):
        return c.kept("memory._row_splits", lambda: _find_row_splits(m, st, c), ("pp", "split_vpp", "tp"), m, st)
    return _find_row_splits(m, st, c)


def _find_row_splits(m: ModelSpec, st, c) -> tuple:
    """``_row_splits`` found."""
    n = len(c)
    runtime = split_runtime(st, m)
    (kpp, kv, ktp), inv = distinct_rows(np.broadcast_to(c.pp, (n,)), np.broadcast_to(split_vpp(c), (n,)),
                                        np.broadcast_to(c.tp if tp_dependent(runtime) else 1, (n,)))
    lay = np.zeros(len(kpp), dtype=np.intp)
    splits = []
    for i, (rows, (k, v, _), counts) in enumerate(split_per_row(m.layers, kpp, kv, ktp, runtime)):
        lay[rows] = i
        splits.append((k, v, tuple(int(x) for x in counts)))
    return splits, lay[inv]


def mtp_kinds(m: ModelSpec) -> dict:
    """The layer kinds one MTP depth runs, {``layer_kinds`` name: layers of it}: a DeepSeek-V3 depth is one
    transformer layer (an MoE one where the model has MoE layers), a hybrid's "*E" (or "*-") two blocks
    (Megatron-Core builds them on the last stage, after the decoder)."""
    if m.hybrid:
        return {"*": 1.0, ("E" if m.moe is not None else "-"): 1.0}
    return {("moe" if m.moe is not None and m.moe_layers else "dense"): 1.0}


@functools.lru_cache(maxsize=512)
def _layout_kinds_held(lk: tuple, names: tuple, k: int, v: int, counts: tuple, mtp: tuple,
                       rank: int = -1) -> np.ndarray:
    """(kinds x 3) whether rank 0, middle rank ``rank`` (``stage_kind_bytes``' middle, ``middle_rank_of``; -1: none;
    under DualPipeV's V any of ranks 1 .. pp - 1) and the last rank hold a layer of each kind of ``names``, the MTP
    kinds ``mtp`` on the rank holding the head (``head_rank``; the last, rank 0 under the V, the one rank at pp 1)."""
    ranks = rank_kind_layers(kind_weights(lk, names), counts, k, v) > 0  # kinds x ranks
    ranks[[names.index(q) for q in mtp if q in names], head_rank(k, v)] = True
    mid = ranks[:, 1:k] if v == V_SPLIT else ranks[:, rank:rank + 1] if rank > 0 else ranks[:, :0]
    out = np.stack([ranks[:, 0], mid.any(axis=1), ranks[:, k - 1]], axis=1)
    out.setflags(write=False)
    return out


def stage_kind_rws(m: ModelSpec, st, c: Candidates, kind_rws: dict, inv=None, group: int = 0) -> tuple:
    """(rank 0, the middle ranks, the last rank) rebuild peak per candidate: the largest of ``kind_rws`` (one layer's
    working set of each kind, ``layer_saves``) over the kinds the rank holds (``_layout_kinds_held``, the split
    --emit launches, counted by ``pipeline.rank_kind_layers`` as the step time's pacing rank and the stages'
    parameters are), 0 on a middle rank where there is none. Megatron-Core rebuilds a rank's own layers one at a
    time in its backward (tensor_parallel/random.py ``CheckpointFunction``; transformer_block.py
    ``_checkpointed_forward``), so a rank of DeepSeek-V3's dense layers never holds an MoE layer's rebuild (its
    routed tokens and, under the all-to-all dispatcher, its dispatch copies: 1.53 against 2.94 GB a 4096-token
    sequence at EP 8, bf16), nor a hybrid rank without attention blocks the CP ring's buffers. Until stagemem42
    every rank took the model's largest (``layer_saves``' rws). The middle is the ``group``-th middle rank that can
    peak (``middle_rank_of``), its own kinds' (until mem43b the largest of any middle rank's, beside
    ``stage_kind_bytes``' largest mix at rank 1's micro-batches). ``inv``: each row's index into
    ``kind_rws``' distinct activation keys (the three figures found per (split, key), then gathered), None: per row."""
    if not len(c):  # no rows, no splits to stack (recommend's probes may hand none; fuzz42)
        return tuple(np.zeros(0) for _ in range(3))
    names = tuple(sorted(kind_rws))
    lk = layer_kinds(m)
    mtp = tuple(mtp_kinds(m)) if m.mtp_layers else ()
    splits, lay = _row_splits(m, st, c)
    # the middle: the group-th middle rank that can peak (middle_rank_of), its own kinds
    reps = [split_middle_reps(m, st, c, k, v, counts) for k, v, counts in splits]
    held = np.stack([_layout_kinds_held(lk, names, k, v, counts, mtp, r[group] if group < len(r) else -1)
                     for (k, v, counts), r in zip(splits, reps)])  # S x kinds x 3
    width = len(c) if inv is None else None
    per = np.stack([np.broadcast_to(np.asarray(kind_rws[q], dtype=np.float64), (width,) if width else
                                    np.shape(kind_rws[q])) for q in names])  # kinds x keys
    tab = (held[:, :, None, :] * per[None, :, :, None]).max(axis=1)  # splits x keys x 3 (rebuilds are >= 0)
    at = np.arange(len(c)) if inv is None else inv
    return tuple(tab[lay, at, j] for j in range(3))


def offload_kind_bytes(m: ModelSpec, st, kinds):
    """(host bytes, the GPU's mean bytes per resident layer) of one micro-batch under activation offload (pp 1) at
    each layer's own kind (``kinds``): TE's ``OffloadSynchronizer`` offloads layers 0 .. N - 1 (offload module
    docstring; transformer_engine/pytorch/cpu_offload.py), so the host holds the first N
    (``offload.offloaded_layers``) and the GPU the rest (``offload.resident_layers``): DeepSeek-V3's three dense
    layers go to the host first."""
    names = sorted(kinds)
    lk = layer_kinds(m)
    L = len(lk)
    n_off = int(round(float(offload.offloaded_layers(L, st))))
    n_res = float(offload.resident_layers(float(L), st))
    start = max(L - int(round(n_res)), 0)

    def of(a, b):
        return sum(sum(1 for x in lk[a:b] if x == k) * np.asarray(kinds[k], dtype=np.float64) for k in names)
    return of(0, n_off), of(start, L) / max(n_res, 1.0)


@functools.lru_cache(maxsize=512)
def _chunk_kind_table(lk: tuple, names: tuple, k: int, v: int, counts: tuple, n: int = 0,
                      uniform: bool = False) -> tuple:
    """(kinds x chunk x rank) layers of each kind of ``names`` on each model chunk of each rank of one interleaved
    split (``counts`` per virtual stage, virtual stage j pp + r chunk j of rank r, ``stage_ranks``), and the same of
    the layers whose input each chunk keeps under Megatron's full recompute (``_chunk_rebuilt_counts``; zeros at n
    0): block, the chunk's first ``n`` layers; ``uniform``, the first layer of each group of ``n`` (chunk positions
    0, n, 2n, ...). ``lk`` the model's ``layer_kinds``. The one count both ``_chunk_kind_counts`` and
    ``_chunk_rebuilt_counts`` read."""
    edges = np.cumsum((0,) + counts)
    # virtual stage s = j k + r is chunk j of rank r: the stages' kinds (kinds x stages) as (kinds x v x k)
    every = stage_kind_layers(kind_weights(lk, names), counts).reshape(len(names), v, k)
    first_n = np.zeros((len(names), v, k))
    for s in range(len(counts)):
        j, r = divmod(s, k)
        for i, x in enumerate(lk[edges[s]:edges[s + 1]]):
            first_n[names.index(x), j, r] += (i % n == 0) if (uniform and n) else i < n
    every.setflags(write=False)  # cached: its callers' slices are views into it
    first_n.setflags(write=False)
    return every, first_n


@functools.lru_cache(maxsize=512)
def _chunk_kind_counts(lk: tuple, names: tuple, k: int, v: int, counts: tuple) -> tuple:
    """Each rank's layers of each kind per model chunk of one interleaved split (``_chunk_kind_table``): (rank 0's
    (kinds x v), the last rank's, the ranks between's in rank order (rank r at r - 1), empty for pp <= 2)."""
    per = _chunk_kind_table(lk, names, k, v, counts)[0]
    return per[:, :, 0], per[:, :, k - 1], tuple(per[:, :, r] for r in range(1, k - 1))


@functools.lru_cache(maxsize=512)
def _chunk_rebuilt_counts(lk: tuple, names: tuple, k: int, v: int, counts: tuple, n: int, chunk: int,
                          uniform: bool = False) -> tuple:
    """Megatron-Core's ``--recompute-method block|uniform --recompute-num-layers n`` chunk by chunk on one
    interleaved split (``counts`` per virtual stage, virtual stage j pp + r chunk j of rank r): each model chunk is
    its own TransformerBlock (transformer_block.py ``TransformerBlock.__init__``: ``self.num_layers_per_pipeline_rank
    = len(self.layers)``, the chunk's own layers). ``_checkpointed_forward``'s block loop (``for l in
    range(self.num_layers_per_pipeline_rank): if l < self.config.recompute_num_layers``) checkpoints the chunk's first
    n layers, each keeping its input, and runs the rest plain; its uniform loop (``while l <
    self.num_layers_per_pipeline_rank: checkpoint(custom(l, l + recompute_num_layers)); l += recompute_num_layers``)
    keeps one input per group of n of the chunk's layers (the last group the remainder), ceil(C / n) of a C-layer
    chunk, and runs none plain. Per rank (0, the last, the distinct ones between): (layers of each kind per chunk,
    those whose input is kept, the plain ones (kinds x v each), exact) -- ``exact`` where every chunk's kept inputs
    of each kind are the share ``_partial_recompute_saves`` takes of all (block min(n, chunk) / chunk, uniform
    ceil(chunk / n) / chunk, ``chunk`` the fullest chunk's layers, ``pipeline.chunk_layers``): there the mean
    layer's mix is the same sum, and its figure is kept. The ranks between in rank order (rank r at r - 1). The counts
    are ``_chunk_kind_table``'s."""
    every_all, kept_all = _chunk_kind_table(lk, names, k, v, counts, n, uniform)
    share = -(-chunk // n) if uniform else min(n, chunk)

    def rank(r):
        every, kept = every_all[:, :, r], kept_all[:, :, r]
        plain = np.zeros_like(every) if uniform else every - kept
        return every, kept, plain, bool((kept * chunk == share * every).all())
    return rank(0), rank(k - 1), tuple(rank(r) for r in range(1, k - 1))


@functools.lru_cache(maxsize=1024)
def _stacked_inflight(pp: int, v: int, rank: int, group, paired: int, ms: tuple) -> np.ndarray:
    """(len(ms) x S x v): ``pipeline.chunk_inflight`` at each step micro-batch count of ``ms``, each padded with its
    first vector to the longest (the max over them unchanged); ``paired`` (combined 1F1B, the MoE all-to-all
    overlap): ``pipeline.chunk_inflight_paired``'s (S x (v + 1)), the states before each pair and the pair's forward
    chunk. Cached: a search's chunks meet the same few."""
    hs = [chunk_inflight_paired(pp, mm, v, rank, group) if paired else chunk_inflight(pp, mm, v, rank, group)
          for mm in ms]
    top = max(h.shape[0] for h in hs)
    out = np.stack([np.concatenate([h, np.repeat(h[:1], top - h.shape[0], axis=0)]) for h in hs])
    out.setflags(write=False)
    return out


def _partial_keys(c: Candidates, rebuilt) -> np.ndarray:
    """Each row's partial full recompute as one key (``chunk_activations``, ``rank_block_activations``): the block N
    (``c.rn``), minus the uniform group (``c.rg`` > 1), 0 for every layer checkpointed alike or where no unmixed
    saves are given (``rebuilt`` None: the HF table's mean layer)."""
    n = len(c)
    full = np.broadcast_to(np.asarray(c.rc), (n,)) == 2
    rn = np.broadcast_to(np.asarray(c.rn), (n,))
    rg = np.broadcast_to(np.asarray(c.rg), (n,))
    if rebuilt is None:
        return np.zeros(n, dtype=np.int64)
    return np.where(full & (rn > 0), rn, np.where(full & (rg > 1), -rg, 0)).astype(np.int64)


def chunk_activations(m: ModelSpec, st, c: Candidates, m_rows, a2a: bool, per_layer, kinds, mtp, keys=None,
                      rebuilt=None, akey=None, group: int = 0):
    """Interleaved rows' (rank 0, the peak middle rank, the last rank) activations summed chunk by chunk, or None
    where no row runs the interleaved schedule: each chunk's layers at their own kinds' bytes (``kinds``, else
    ``per_layer`` a layer; the MTP depths ``mtp`` on the last rank's last chunk, where Megatron-Core builds them)
    x the micro-batches that chunk holds (``pipeline.chunk_inflight``, the schedule replayed), the largest over
    the peak's count vectors; the middle the ``group``-th middle rank that can peak (``middle_rank_of``) at its own
    counts (until mem43b each middle rank's mix at rank 1's, the most: a later rank runs a prefix of its forwards). Returns (rows, a0, a1, a_last, even0, even1, even_last): ``even`` where a rank's chunks
    are all the same bytes, which the even spread memory_stages ``inflight_microbatches`` x the rank's layers prices to
    the same sum (left to it, its figure unchanged). Until chunk39 every chunk held (warm-up + 1) / v micro-batches:
    Megatron-Core runs its warm-up group by group from chunk 0, so rank 0's first chunk holds the most (PP16 VPP8
    m 64: 31 to 32 of rank 0's 143, not 17.9), and the last rank's last chunk, with the MTP depths, 0 or 1.
    ``keys``: the caller's distinct (pp, vpp, schedule, tp, micro-batches) rows and each row's index into them
    (``rank_activations``), else found here. ``akey``: each row's activation key (``transformer_activations``'
    distinct (tp, cp, sp, mb, rc, ep, a2a) index), where the rows' layer bytes (``per_layer``, ``kinds``, ``mtp``,
    ``rebuilt()``) follow from it, the row's split and its block / uniform recompute (``rn``, ``rg``): the rows are
    then priced once per distinct (stage key, activation key, rn, rg) and gathered back (a DeepSeek-V3 search's
    131,072-row block: a few hundred keys), each figure the one its row would get (every step elementwise).

    Block recompute (Megatron's ``--recompute-method block --recompute-num-layers N``, the stacks with
    ``Stack.partial_recompute``: Megatron-Core, NeMo, Megatron-Bridge) runs per model chunk
    (``_chunk_rebuilt_counts``): each chunk checkpoints its own first N layers, so a chunk's bytes are those
    layers' inputs (``rebuilt()``'s first: each kind at the rows' full recompute) plus its other layers' whole
    saves (its second: each kind without recompute), held by that chunk's micro-batches. Until rcchunk39 every
    layer of a rank took the fullest chunk's recomputed share min(N, C) / C (``_partial_recompute_saves``): a
    3-layer chunk beside 4-layer ones at N 2 kept 1.5 layers whole, not 1, and DeepSeek-V3's PP4 VPP4 rank 0
    first chunk (3 dense layers) re-ran half of each kind where it re-runs 2 of its dense layers. Where a rank's
    chunks take exactly the share (each chunk C layers, or N at or above every chunk), the mix is the same sum
    and the figure before is kept. Megatron's uniform method (``--recompute-method uniform``, ``c.rg`` g) also
    groups per chunk (``while l < self.num_layers_per_pipeline_rank``): a chunk of C layers keeps ceil(C / g) group
    inputs, each at its group's first layer's kind, x its held micro-batches (uniform40; before, every chunk the
    fullest chunk's ceil(C / g) / C a layer: chunks (4, 4, 3, 3) at g 2 kept 7 inputs, Megatron keeps 8).
    torchtitan's layer SAC counts its layers across a rank's chunks (``recomputed_fraction`` ``every``) and keeps
    the rank's share."""
    if getattr(st, "activation_offload", False):
        return None
    n = len(c)
    runtime = split_runtime(st, m)
    if keys is None:
        pp = np.broadcast_to(np.asarray(c.pp), (n,))
        vv = np.broadcast_to(split_vpp(c), (n,))
        sel = (np.broadcast_to(np.asarray(c.schedule), (n,)) == 1) & (vv > 1) & (pp > 1)
        if not sel.any():
            return None
        rows = np.flatnonzero(sel)
        ktp = np.broadcast_to(c.tp if tp_dependent(runtime) else 1, (n,))[rows]
        (kpp, kv, kt, km), inv = distinct_rows(pp[rows], vv[rows], ktp, np.broadcast_to(m_rows, (n,))[rows])
    else:
        minv, kpp, kv, ks, kt, km = keys
        sel = ((ks == 1) & (kv > 1) & (kpp > 1))[minv]
        if not sel.any():
            return None
        rows = np.flatnonzero(sel)
        inv = minv[rows]
    every_row = None  # with akey: the interleaved rows' index among the distinct ones priced below
    if akey is not None:
        _, every_row = distinct_rows(inv, np.asarray(akey)[rows], np.broadcast_to(np.asarray(c.rn), (n,))[rows],
                                     np.broadcast_to(np.asarray(c.rg), (n,))[rows])
        first = np.empty(int(every_row.max()) + 1, dtype=np.intp)
        first[every_row[::-1]] = np.arange(len(rows) - 1, -1, -1, dtype=np.intp)  # each key's first row
        all_rows, rows, inv = rows, rows[first], inv[first]
    if kinds is None:
        names, lk = ("",), ("",) * m.layers
        per = np.broadcast_to(np.asarray(per_layer, dtype=np.float64), (n,))[rows][None, :]
    else:
        names, lk = tuple(sorted(kinds)), layer_kinds(m)
        per = np.stack([np.broadcast_to(np.asarray(kinds[q], dtype=np.float64), (n,))[rows] for q in names])
    mtp_r = np.broadcast_to(np.asarray(mtp, dtype=np.float64), (n,))[rows]
    mb_group = getattr(st, "microbatch_group_size", None)
    # each row's partial recompute (0: every layer alike; > 0 block N, < 0 minus the uniform group)
    part = _partial_keys(c, rebuilt)[rows]
    unmixed = []

    def saves():  # (full, none) per kind over the rows, only where a chunk's rebuilt layers differ from the share
        if not unmixed:
            full, none = rebuilt()
            unmixed.extend(np.stack([np.broadcast_to(np.asarray(x[q], dtype=np.float64), (n,))[rows] for q in names])
                           for x in (full, none))
        return unmixed
    out = [np.zeros(len(rows)) for _ in range(3)]
    even = [np.ones(len(rows), dtype=bool) for _ in range(3)]
    mk = np.maximum(np.rint(np.asarray(km, dtype=np.float64)), 1).astype(np.int64)  # whole micro-batches a step
    # per split (pp, vpp[, tp]): each rank's chunk bytes over its rows, then the count vectors of each row's m
    (lpp, lv, lt), lay = distinct_rows(np.asarray(kpp), np.asarray(kv), np.asarray(kt))
    row_lay = lay[inv]
    for li, (k, v, t) in enumerate(zip(*(x.tolist() for x in (lpp, lv, lt)))):
        at = np.flatnonzero(row_lay == li)
        if not at.size:  # a split of the caller's keys no interleaved row takes
            continue
        counts = tuple(pipeline_split(m.layers, k, v, runtime_at(runtime, t))[1])
        first, last, mids = _chunk_kind_counts(lk, names, k, v, counts)
        reps = split_middle_reps(m, st, c, k, v, counts)
        r_mid = reps[group] if group < len(reps) else -1  # the middle rank priced (none: its figure unread)
        (keys_here,), m_of = distinct_rows(inv[at])  # this split's keys, each row's among them (O(n), no sort)

        ms = tuple(mk[keys_here].tolist())

        def states(rank):
            return _stacked_inflight(k, v, rank, mb_group, int(a2a), ms)

        def peak(h, sub, mix, extra=None, kept=None):
            """the largest count vector x chunk bytes, summed chunk by chunk in order, over the rows ``at[sub]``;
            ``kept``: (checkpointed, plain) per chunk of a partial recompute whose chunks leave the share; under
            combined 1F1B (``a2a``) each state before a pair plus one layer of the pair's forward chunk (its mean
            layer: ``pipeline.chunk_inflight_paired``)"""
            a_, mo = at[sub], m_of[sub]
            if kept is None and extra is None and (mix == mix[:, :1]).all():  # the same layers on every chunk:
                b0 = sum(mix[q, 0] * per[q, a_] for q in range(len(names)))  # every count vector gives the total
                if a2a:  # x one chunk's bytes, and a pair's one layer
                    return (h[:, 0, :v].sum(axis=1)[mo] * b0 + (h[:, 0, v] >= 0)[mo] * (b0 / mix[:, 0].sum())), True
                return h[:, 0, :].sum(axis=1)[mo] * b0, True
            if kept is None:
                b = [sum(mix[q, j] * per[q, a_] for q in range(len(names))) for j in range(v)]
            else:
                full, none = (x[:, a_] for x in saves())
                b = [sum(kept[0][q, j] * full[q] + kept[1][q, j] * none[q] for q in range(len(names)))
                     for j in range(v)]
            one = [b[j] / max(mix[:, j].sum(), 1.0) for j in range(v)]  # a chunk's mean layer (the MTP depth apart)
            if extra is not None:
                b[-1] = b[-1] + extra[sub]
            if a_.size * h.shape[1] * v <= 1 << 22:  # every count vector at once where that is a few MB
                hh = h[mo]
                best = sum(hh[:, :, j] * b[j][:, None] for j in range(v))
                if a2a:
                    best = best + sum((hh[:, :, v] == j) * one[j][:, None] for j in range(v))
                best = best.max(axis=1)
            else:  # a vector at a time (the same products and sums: the same figures)
                best = None
                for s_ in range(h.shape[1]):
                    hs = h[:, s_, :][mo]
                    acc = sum(hs[:, j] * b[j] for j in range(v))
                    if a2a:
                        acc = acc + sum((hs[:, v] == j) * one[j] for j in range(v))
                    best = acc if best is None else np.maximum(best, acc)
            # a rebuilt split's equal chunks still differ from the rank's mean-layer figure: never left to it
            return best, (np.logical_and.reduce([x == b[0] for x in b[1:]]) & (kept is None))

        mtp_at = mtp_r[at]
        pk = part[at]
        cm = int(np.ceil(m.layers / (k * v)))  # the fullest chunk _partial_recompute_saves priced the share on
        for key in np.unique(pk).tolist():
            sub = np.flatnonzero(pk == key)
            rows_at = at[sub]
            if key == 0:
                ends = [(first, None), (last, None)]
                mid_list = [(mids[r_mid - 1], None)] if r_mid > 0 else []
            else:
                g0, gl, gm = _chunk_rebuilt_counts(lk, names, k, v, counts, abs(int(key)), cm, key < 0)
                ends = [(x[0], None if x[3] else (x[1], x[2])) for x in (g0, gl)]
                mid_list = [(x[0], None if x[3] else (x[1], x[2])) for x in gm[r_mid - 1:r_mid]] if r_mid > 0 else []
            if group == 0:  # (a further middle rank's call reads its middle alone: middle_activations)
                out[0][rows_at], even[0][rows_at] = peak(states(0), sub, ends[0][0], None, ends[0][1])
                out[2][rows_at], even[2][rows_at] = peak(states(k - 1), sub, ends[1][0], mtp_at, ends[1][1])
            for mix, kept in mid_list:
                out[1][rows_at], even[1][rows_at] = peak(states(r_mid), sub, mix, None, kept)
    if every_row is not None:
        return (all_rows, *(x[every_row] for x in out), *(x[every_row] for x in even))
    return (rows, *out, *even)

def rank_block_activations(m: ModelSpec, st, c: Candidates, m_rows, a2a: bool, kinds, mtp, last_inflight, rebuilt,
                           group: int = 0):
    """Block recompute (Megatron ``--recompute-method block --recompute-num-layers N``) on 1F1B ranks (no VPP):
    (rows, rank 0, the middle ranks' peak, the last rank, exact0, exact1, exact_last) activations, or None where no
    such row. A rank is one TransformerBlock (transformer_block.py ``num_layers_per_pipeline_rank =
    len(self.layers)``) that checkpoints its own first N layers (``_checkpointed_forward``), so a rank of n layers keeps
    min(N, n) layers' inputs and the rest's whole saves, each at its kind (``_chunk_rebuilt_counts`` with one chunk a
    rank), x its micro-batches in flight (memory_stages ``inflight_microbatches``: pp - r; the middle the ``group``-th
    middle rank that can peak at its own count, ``middle_rank_of``; until mem43b every middle rank at rank 1's). Before
    split40 every rank took the fullest rank's share min(N, C) / C (``_partial_recompute_saves``): Megatron's 11, 12 x
    6, 11 split of 94 layers at N 5 kept 11 x 5 / 12 = 4.58 layers' inputs on rank 0, not 5. Uniform recompute (``c.rg``
    g) likewise per rank: ceil(n / g) group inputs and no plain layer (uniform40; before, ceil(C / g) / C of every
    layer: rank 0's 11 at g 5 kept 2.75, not 3). ``exact``: the rank's layers take exactly that share (its figure
    kept)."""
    if rebuilt is None or getattr(st, "activation_offload", False):
        return None
    n = len(c)
    pp = np.broadcast_to(np.asarray(c.pp), (n,))
    rn = _partial_keys(c, rebuilt)  # block N, or minus the uniform group
    sel = (rn != 0) & (pp > 1) & (np.broadcast_to(np.asarray(c.chunks), (n,)) == 1)
    if not sel.any():
        return None
    rows = np.flatnonzero(sel)
    runtime = split_runtime(st, m)
    full, none = rebuilt()
    if kinds is None:
        names, lk = ("",), ("",) * m.layers
    else:
        names, lk = tuple(sorted(full)), layer_kinds(m)
    fk = np.stack([np.broadcast_to(np.asarray(full[q], dtype=np.float64), (n,))[rows] for q in names])
    nk = np.stack([np.broadcast_to(np.asarray(none[q], dtype=np.float64), (n,))[rows] for q in names])
    mm = np.broadcast_to(np.asarray(m_rows, dtype=np.float64), (n,))[rows]
    cr = c.take(rows)
    infl0 = inflight_microbatches(cr, mm, a2a)
    infl_l = np.broadcast_to(np.asarray(last_inflight, dtype=np.float64), (n,))[rows]
    mtp_r = np.broadcast_to(np.asarray(mtp, dtype=np.float64), (n,))[rows]
    out = [np.zeros(len(rows)) for _ in range(3)]
    exact = [np.ones(len(rows), dtype=bool) for _ in range(3)]
    ktp = np.broadcast_to(c.tp if tp_dependent(runtime) else 1, (n,))[rows]
    for at_rows, (k, _, t), counts in split_per_row(m.layers, pp[rows], 1, ktp, runtime):
        reps = split_middle_reps(m, st, c, k, 1, counts)
        r_mid = reps[group] if group < len(reps) else -1
        infl_mid = inflight_microbatches(cr, mm, a2a, rank=float(max(r_mid, 1)))
        for key in np.unique(rn[rows][at_rows]).tolist():
            sub = np.flatnonzero(at_rows & (rn[rows] == key))
            g0, gl, gm = _chunk_rebuilt_counts(lk, names, k, 1, tuple(int(x) for x in counts), abs(int(key)),
                                               int(np.ceil(m.layers / k)), key < 0)

            def bytes_of(g):
                kept, plain = g[1][:, 0], g[2][:, 0]
                return sum(kept[q] * fk[q, sub] + plain[q] * nk[q, sub] for q in range(len(names)))
            out[0][sub], exact[0][sub] = bytes_of(g0) * infl0[sub], g0[3]
            out[2][sub], exact[2][sub] = bytes_of(gl) * infl_l[sub] + mtp_r[sub] * infl_l[sub], gl[3]
            if r_mid > 0:  # the middle rank's own layers at its own count
                out[1][sub], exact[1][sub] = bytes_of(gm[r_mid - 1]) * infl_mid[sub], gm[r_mid - 1][3]
    return (rows, *out, *exact)


def _ranks_taken(c: Candidates, ranks, got):
    """(rank 0, middle peak, last) activations ``ranks`` with ``got``'s rows (``rank_block_activations`` /
    ``chunk_activations``: rows, three figures, three ``exact`` flags) taken where not exact; the middle only with a
    middle rank (pp > 2)."""
    if got is None:
        return ranks
    rows, n0, n1, nl, e0, e1, el = got
    a0, a1, al = (np.array(np.broadcast_to(x, (len(c),)), dtype=np.float64) for x in ranks)
    a0[rows] = np.where(e0, a0[rows], n0)
    a1[rows] = np.where(e1 | (np.asarray(c.pp)[rows] <= 2), a1[rows], n1)
    al[rows] = np.where(el, al[rows], nl)
    return a0, a1, al


@dataclasses.dataclass(frozen=True, slots=True)
class RankActivations:
    """Each pipeline rank class's activations beside its own rebuild, bytes per GPU per candidate
    (``rank_activations``): ``rank0`` rank 0's (with the embedding's output; under DualPipeV's V the MTP depths
    too), ``middle`` one middle rank's (``rank_activations``' ``group``; 0 where pp <= 2 and under the V, which
    has none),
    ``last`` the last rank's (under the V the fullest other rank's), and ``first`` the peak of ``rank0`` and
    ``middle``: what the memory's "first" stage pairs with the heaviest states before the last."""
    rank0: object
    middle: object
    last: object
    first: object


def rank_activations(m: ModelSpec, st, c: Candidates, gb, m_micro, per_layer, rws, emb_out,
                     kinds=None, rebuilt=None, akey=None, rank_rws=None, group: int = 0) -> RankActivations:
    """Each rank class's activations (``RankActivations``): each rank's layers x its micro-batches in flight
    (memory_stages ``stage_layer_microbatches``), rank 0 with the embedding's output, the middle rank (``group``) at its
    own count, the last with the MTP depths, each plus one layer's rebuild (``rws``); "first" the larger of rank 0 and
    the middle. A rank's layers at their own kinds' saves where ``kinds`` (``layer_kind_saves``, ``stage_kind_bytes``),
    else each the mean layer ``per_layer``. ``rebuilt``: a callable giving the saves unmixed by partial recompute,
    ``chunk_activations``' per-chunk block / uniform recompute. ``akey``: each row's activation key
    (``transformer_activations``' per-key layer terms), which with its split and recompute fixes its layer bytes
    (``chunk_activations`` prices the distinct ones once); not where the HF table's per-row pieces price the layers
    (``rebuilt`` None there). ``rank_rws``: (rank 0, the middle ranks, the last rank) rebuild peaks, each rank's own
    kinds' (``stage_kind_rws``), else ``rws`` on every rank. ``group``: which middle rank that can peak the middle is
    (``middle_rank_of``: 0 rank 1; mem43b), its own layers, kinds, rebuild and micro-batches in flight."""
    a2a = bool(m.moe is not None and st.moe_a2a_overlap)
    r0, r1, rl = (rws,) * 3 if rank_rws is None else rank_rws
    # the peak over the ranks before the last (stage_layer_microbatches): rank 0 with the embedding's output,
    # or rank 1
    if np.ndim(gb) == 0:  # per distinct (pp, vpp, schedule, mb, dp) key, gathered back (a few hundred keys)
        # (tp too where the split depends on it: DeepSpeed's "parameters" partition, per TP rank)
        ktp_ = c.tp if tp_dependent(split_runtime(st, m)) else np.ones_like(c.pp)
        (kpp_, kv_, ks_, kmb_, kdp_, ktp_), minv = distinct_rows(c.pp, c.vpp, c.schedule, c.mb, c.dp, ktp_)
        kcols = SimpleNamespace(pp=kpp_, vpp=kv_, schedule=ks_, tp=ktp_)
        parts = stage_layer_microbatches(m.layers, kcols, np.maximum(gb / (kmb_ * kdp_), 1.0), a2a, st, m,
                                         middle_rank_of(m, st, c, group, (minv, len(kpp_))))
        lm0, lm1, lm_last, last_inflight = (x[minv] for x in parts)
        m_rows, keys = None, (minv, kpp_, kv_, ks_, ktp_, np.maximum(gb / (kmb_ * kdp_), 1.0))
    else:
        lm0, lm1, lm_last, last_inflight = stage_layer_microbatches(m.layers, c, m_micro, a2a, st, m,
                                                                    middle_rank_of(m, st, c, group))
        m_rows, keys = m_micro, None
    # each rank's layers at their own kinds' bytes (stage_kind_bytes), else every layer the mean one
    w0, w1, wl = (per_layer,) * 3 if kinds is None else stage_kind_bytes(m, st, c, kinds, group)
    a0, a1 = lm0 * w0, lm1 * w1
    # the MTP depths run after the decoder on the last stage and save their activations like layers: a
    # DeepSeek-V3 depth is one transformer layer (an MoE one), a hybrid's "*E" block two blocks
    if kinds is None:
        mtp = m.mtp_layers * (2.0 if m.hybrid else 1.0) * per_layer
    else:
        mtp = m.mtp_layers * sum(kinds.get(k, per_layer) * x for k, x in mtp_kinds(m).items())
    al = lm_last * wl + mtp * last_inflight
    # 1F1B block recompute: each rank its own first N layers (rank_block_activations), where a rank's share differs
    # from the fullest rank's the mean layer took
    a0, a1, al = _ranks_taken(c, (a0, a1, al), rank_block_activations(
        m, st, c, m_rows if keys is None else keys[5][keys[0]], a2a, kinds, mtp, last_inflight, rebuilt, group))
    # interleaved: each chunk's own layers x the micro-batches that chunk holds (chunk_activations), where a
    # rank's chunks differ (equal chunks: the even spread's sum, the figure above)
    a0, a1, al = _ranks_taken(c, (a0, a1, al), chunk_activations(m, st, c, m_rows, a2a, per_layer, kinds, mtp, keys,
                                                                   rebuilt, None if rebuilt is None else akey, group))
    rank0, middle = a0 + emb_out + r0, a1 + r1  # each rank beside its own rebuild (stage_kind_rws)
    first_act = np.maximum(rank0, middle)
    last_act = al + rl
    # DualPipeV's V (pipeline.V_SPLIT): rank 0 holds the embedding's output, the head's (MTP) and, with the logits
    # (transformer_activations), is "first"; "last" the fullest other rank (stage_layer_ends' middle under the V)
    v = (split_vpp(c) == V_SPLIT) & (np.asarray(c.pp) > 1)
    if np.any(v):
        first_act = np.where(v, lm0 * w0 + mtp * last_inflight + emb_out + r0, first_act)
        last_act = np.where(v, np.maximum(lm1 * w1 + r1, lm_last * wl + rl), last_act)
        rank0 = np.where(v, first_act, rank0)
    middle = np.where((np.asarray(c.pp) > 2) & ~v, middle, 0.0)  # pp <= 2 and the V: no rank between the ends
    return RankActivations(rank0, middle, last_act, first_act)


def cp_a2a_keys(m: ModelSpec, st, c: Candidates):
    """Each candidate's a2a group where some layer's CP is Megatron-Core's a2a+p2p (comm.hierarchical_cp_a2a, as
    the step time and ``--emit`` take it: its ring, over cp / a2a, sizes the ring's buffers), else 1."""
    if not any(kind == "a2a+p2p" for kind, _ in cp_comm_mix(st, m)):
        return np.ones_like(c.tp)
    return hierarchical_cp_a2a(c.cp, c.tp, c.gpus_per_node, m.heads or 1, m.kv_heads or m.heads or 1)


def loss_logits(m: ModelSpec, st, seq, keys, act_b, rws, inv, beside=0.0):
    """What the output layer and loss add to the step's peak beyond the layers' saves and one layer's rebuild
    (``rws``), per candidate: ``keys`` = (tp, cp, sp, mb) per distinct key, ``inv`` gathers them back. The loss's
    buffers (``out``: what the output layer and loss save, activations.logits_bytes, plus the loss's transient at its
    peak, loss_transient_bytes) and the last layer's rebuild in the backward are never live together, so the step
    holds the larger of the two and the term is what ``out`` exceeds the rebuild by, or the logits the loop still
    holds at the rebuild (``held_logit_bytes``) where those are more.

    * PyTorch eager autograd: a node drops its saved tensors as it runs (torch/csrc/autograd/engine.cpp
      ``call_function``: ``fn.will_release_variables()`` unless ``retain_graph``), and the loss's and the output
      layer's nodes all run before the gradient reaches the last checkpointed layer, whose rebuild starts there
      (torch.utils.checkpoint: on the first unpack of its saved tensors, non-reentrant; in ``CheckpointFunction.
      backward``, reentrant; Megatron-Core tensor_parallel/random.py ``CheckpointFunction.backward``). Measured on
      CPU (tests/test_losspeak38.py: the allocator's trace of a checkpointed decoder with ``F.cross_entropy`` over
      fp32-upcast logits and with a fused loss that saves the softmax, both checkpoint modes, and Megatron-Core
      0.16.1's GPTModel under full recompute): the step's peak is max(saves + ``out``, saves + rebuild + held)
      within 1 %, where the sum overstated it by 22-87 % (Megatron-Core: 27-53 %).
    * one XLA program (MaxText): buffer assignment gives buffers never live together the same memory
      (xla/service/buffer_assignment.cc over heap_simulator.cc); the loss's end with its backward, before the
      backward ``scan`` rebuilds its first layer inside the loop body (mxmem38).

    MaxText's vocabulary tiling holds one tile's tokens at a time (Stack.num_vocab_tiling). ``beside``: per
    candidate, what the loss's backward holds with its buffers (``scan_head_grad_transient``). Until losspeak38
    every stack but MaxText's priced ``out`` beside the rebuild."""
    ktp, kcp, ksp, kmb = keys
    tiles = getattr(st, "num_vocab_tiling", 1)
    out = (logits_bytes(m, seq, kmb, ktp, kcp, act_b, sp=ksp.astype(bool), vocab_tiles=tiles)
           + loss_transient_bytes(m, seq, kmb, ktp, kcp, act_b, loss=st.loss_code,
                                  chunk=getattr(st, "ce_chunk_size", None) or 0, vocab_tiles=tiles))[inv] + beside
    return loss_beside_rebuild(out, rws, held_logit_bytes(m, st, seq, kmb, ktp, kcp, act_b)[inv])


def loss_beside_rebuild(out, rws, held):
    """The loss's share of the step's peak on top of the layers' saves and one layer's rebuild ``rws``: the loss's
    buffers ``out`` and the rebuild are never live together, the logits the loop holds (``held``) are beside the
    rebuild, so the peak is max(out, rws + held) and the share what that exceeds ``rws`` by (``loss_logits``)."""
    return np.maximum(out - rws, held)


def held_logit_bytes(m: ModelSpec, st, seq, micro_batch, tp, cp, act_b):
    """The model's logits (the rank's vocabulary shard, in the activation dtype) that the training loop keeps
    referenced through ``backward`` (``Stack.loop_holds_output``): alive beside the last layer's rebuild, after the
    loss's own buffers are freed (``loss_logits``; measured +2 B a logit at bf16 in tests/test_losspeak38.py). None
    where the model returns no logits: AutoModel's fused linear cross-entropy ("linear_ce") runs the model with
    ``logits_to_keep=1``."""
    if not (m.is_transformer and getattr(st, "loop_holds_output", False)) or st.loss_code == "linear_ce":
        return np.zeros(np.broadcast(np.asarray(seq), np.asarray(micro_batch), np.asarray(tp)).shape)
    return rank_logits(m, seq, micro_batch, tp, cp).shard * act_b


def _unmixed_saves(full_layer, raw, at_none):
    """(unrecomputed, rebuilt): ``unrecomputed()`` the rows' mean-layer saves and rebuild peak without recompute
    (``at_none()``, computed once for the mean layer's partial mix and the chunks'); ``rebuilt()`` the saves before
    any partial-recompute mix for ``chunk_activations``' per-chunk block recompute: (at the rows' full recompute,
    without), each kind's (``raw``, ``_kind_saves``' record) or the mean layer's (``full_layer``) under ""."""
    got = []

    def unrecomputed():
        if not got:
            got.extend(at_none())
        return got
    if raw:
        return unrecomputed, lambda: (raw["full"], raw["none"]())
    return unrecomputed, lambda: ({"": full_layer}, {"": unrecomputed()[0]})


def _rank_rebuilds(m: ModelSpec, st, c: Candidates, rws, inv, beside=0.0, key_rws: dict | None = None,
                   group: int = 0) -> tuple:
    """(the model's rebuild, (rank 0, middle, last) rebuild peaks or None, the rebuild beside the loss), each with
    ``beside`` (what sits beside any rebuild: a matrix's gradient before its scatter, ``scan_grad_transient``): each
    rank's own kinds' (``stage_kind_rws``) where ``key_rws`` is given (each kind's at the activation keys, gathered by
    ``inv``: a mixed model's table saves) and the partial recompute left the rows' rebuild the whole layer's
    (``_partial_recompute_saves``: its plain layers are the mean layer's), else the model's ``rws``; the loss is beside
    the rebuild of the rank holding the head (the last, rank 0 under DualPipeV's V: ``loss_logits``). ``group``: the
    middle rank (``middle_rank_of``)."""
    if not key_rws:
        return rws + beside, None, rws + beside
    whole = rws == functools.reduce(np.maximum, key_rws.values())[inv]
    ranks = tuple(np.where(whole, x, rws) + beside for x in stage_kind_rws(m, st, c, key_rws, inv, group))
    v = (split_vpp(c) == V_SPLIT) & (np.asarray(c.pp) > 1)
    return rws + beside, ranks, np.where(v, ranks[0], ranks[2])


def middle_activations(m: ModelSpec, st, c: Candidates, ra: RankActivations, args: tuple, rebuilds,
                       exact: bool = True) -> tuple:
    """(activations, rank) of each middle rank that can peak (``middle_rank_of``'s groups; ``ra`` the first's, rank
    1's): ``rank_activations`` at each further one (``args`` its arguments, ``rebuilds(rows' candidates, rows, group)``
    its rank rebuilds on those rows, ``_rank_rebuilds``), its own layers, kinds, rebuild and micro-batches in flight (mem43b),
    on the rows that have such a rank only (the rank -1 and the figure 0 elsewhere, unread: ``rank_class_rows``
    takes a middle rank where its rank is >= 0). Not ``exact`` (the search: only the peak class's figures are read),
    also not on the rows where the rank provably holds no more than rank 0 (``middle_settled``; speed44). Each row's
    figure is the one a call on all rows gives it (every step elementwise or per key). Returns (activations, ranks,
    the rows priced: ``ActivationTerms.middle_priced``); the first middle rank's activations are ``ra``'s, on every
    row, but not priced where settled."""
    n = len(c)
    acts, ranks, priced = [ra.middle], [], []
    for g in range(middle_groups(m, st, c)):
        ranks.append(middle_rank_of(m, st, c, g)[0])
        priced.append((ranks[g] >= 0) & (True if exact else ~middle_settled(m, st, c, g)))
        if g == 0:
            continue
        rows = np.flatnonzero(priced[g])
        acts.append(np.zeros(n))
        if rows.size:
            cc = c.take(rows)
            acts[g][rows] = rank_activations(m, st, cc, *_rows_of(args, rows, n), rebuilds(cc, rows, g), g).middle
    return tuple(acts[:len(ranks)]), tuple(ranks), tuple(priced)


def _rows_of(x, rows, n: int):
    """``x`` at ``rows``: a column of ``n`` rows taken, a tuple, list or dict of them or a callable giving them
    likewise, anything else (a value for every row) as it is (``middle_activations``' arguments); ``rows`` None: all."""
    if rows is None:
        return x
    if callable(x):
        return lambda: _rows_of(x(), rows, n)
    if isinstance(x, dict):
        return {k: _rows_of(v, rows, n) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_rows_of(v, rows, n) for v in x)
    return x[rows] if isinstance(x, np.ndarray) and x.ndim and x.shape[0] == n else x


def transformer_activations(m: ModelSpec, t: TrainingSpec, given, st, c: Candidates, seq, gb, b: StateBytes, memo,
                            hf, walked, layers, m_micro, g_kept, loss_weights=0.0, exact: bool = True) -> ActivationTerms:
    """A transformer's activations and logits per stage: per-layer saves (``layer_saves``, partial recompute
    ``_partial_recompute_saves``, the HF table where the code is transformers'), the stages' layer-micro-batches
    (``rank_activations``), the logits and loss transient (activations.logits_bytes, loss_transient_bytes), the
    walked HF step where walked (``_hf_walk_arrays``), the offloaded layers on the host; not ``exact``, the middle
    ranks only where they can beat rank 0 (``middle_activations``)."""
    act_b = b.act
    # per-layer bytes depend only on (tp, cp, sp, mb, rc, ep): computed once per distinct key and
    # gathered back to every candidate (a search has millions of rows, a few hundred keys)
    # (ep only where it moves a layer's keep: op SAC's MoE all-to-all outputs, activations.op_sac_saved_tensors)
    # (and where an HF EP plan / DeepSpeed's AutoTP decides it, memory.hf_ep_rows, or a stated imbalance, moe.rank_load)
    # (and where Megatron-Core's all-to-all dispatcher holds its copies at EP > 1: activations.moe_a2a_transient)
    ep_keys = (c.ep if m.moe is not None and (getattr(st, "selective", None) == "op" or m.moe.imbalance > 1
                                              or (getattr(st, "moe_megatron_layer", False)
                                                  and getattr(st, "moe_dispatcher", "alltoall") == "alltoall")
                                              or moe_mech_plan(m, st) is not None
                                              or hf_tp_plan(m, st) is not None
                                              or not getattr(st, "tp_splits_experts", True)) else np.ones_like(c.tp))
    (ktp, kcp, ksp, kmb, krc, kep, ka2a), inv = distinct_rows(c.tp, c.cp, c.sp, c.mb, c.rc, ep_keys,
                                                             cp_a2a_keys(m, st, c))
    keys = (ktp, kcp, ksp, kmb, kep, ka2a)
    per_layer, rws, key_rws = layer_saves(m, t, given, st, c, seq, b, memo, keys, krc)
    per_layer, rws = per_layer[inv], rws[inv]
    every = getattr(st, "layer_sac_every", 0)  # torchtitan layer SAC's n (0: the stack's selective is another)
    krc0 = np.where((krc == 2) | ((krc == 1) & bool(every)), 0, krc)  # the same rows without recompute
    kinds = _kind_saves(m, t, given, st, c, seq, b, memo, keys, (krc, krc0), inv, rws, every, raw := {})
    unrecomputed, rebuilt = _unmixed_saves(per_layer, kinds is not None and raw, lambda: [
        x[inv] for x in layer_saves(m, t, given, st, c, seq, b, memo, keys, krc0)[:2]])
    per_layer, rws = _partial_recompute_saves(m, t, c, per_layer, rws, unrecomputed, every, split_runtime(st, m))
    if hf and (walked is None or not walked.all()):  # the table's pieces where not walked
        hf_layer, hf_rws, hf_logits = _hf_activation_arrays(m, t, c, seq, hf, st)
        if not b.frozen:  # a frozen base keeps its own set (above)
            per_layer, rws = hf_layer, hf_rws
            kinds = rebuilt = None  # the HF table's mean layer (activations_hf): no per-kind split (nor partial rc)
    # the embedding output, the logits and the loss transient likewise per (tp, cp, sp, mb) key, gathered
    emb_out = (rank_tokens(seq, kmb, kcp) * m.hidden * act_b / sp_divisor(ksp, ktp))[inv]
    # activation offload: the host ends the forward holding every offloaded layer (the copies the time model
    # moves, offload.offloaded_layers; the double buffer's groups are on both sides while in flight)
    host = offload.offloaded_layers(layers, st) * per_layer
    if kinds is not None and getattr(st, "activation_offload", False):  # the first N layers at their own kinds
        host = np.where(np.asarray(c.pp) == 1, offload_kind_bytes(m, st, kinds)[0], host)
    # MaxText's remat policy: the tensors it offloads, every layer of the stage's one micro-batch in flight (pp 1;
    # MaxText's GPipe holds more: not counted), on the full-recompute rows (the layers under jax.checkpoint)
    host = host + np.where(c.rc == 2, layers * remat_host_layer_bytes(
        m, seq, kmb, ktp, kcp, ksp.astype(bool), act_b, stack_remat(st))[inv], 0.0)
    rebuilds = functools.partial(_rank_rebuilds, m, st, key_rws=key_rws if kinds is not None else {})  # own kinds'
    rws, rrws, head_rws = rebuilds(c, *(at := (rws, inv, scan_grad_transient(m, st, c, act_b))))
    ra = rank_activations(m, st, c, *(args := (gb, m_micro, per_layer, rws, emb_out, kinds, rebuilt, inv)), rrws)
    last_logits = (hf_logits if hf and (walked is None or not walked.all())  # the HF table's, else the loss's
                   else loss_logits(m, st, seq, (ktp, kcp, ksp, kmb), act_b, head_rws, inv, beside=loss_weights))
    v = (split_vpp(c) == V_SPLIT) & (c.pp > 1)  # DualPipeV: the loss on rank 0 ("first", rank_activations)
    first_logits, last_logits = where0((c.pp == 1) | v, last_logits), np.where(v, 0.0, last_logits)
    if walked is not None and walked.any():
        w_act, w_logits = _hf_walk_arrays(m, t, c, seq, hf, st, m_micro, g_kept[np.clip(c.zero, 0, 3)])
        # (one stage: rank 0 is "first" and "last", no middle)
        ra = dataclasses.replace(ra, **{k: np.where(walked, w_act, getattr(ra, k)) for k in ("rank0", "last", "first")})
        first_logits, last_logits = (np.where(walked, w_logits, x) for x in (first_logits, last_logits))
    return ActivationTerms(ra.first, ra.last, first_logits, last_logits, host, ra.rank0, *middle_activations(
        m, st, c, ra, args, lambda cc, rows, g: rebuilds(cc, *_rows_of(at, rows, len(c)), group=g)[1], exact))


def sample_activations(m: ModelSpec, c: Candidates, act_b) -> ActivationTerms:
    """A model measured per sample (``activation_bytes_per_sample``, in fp32; autocast keeps most activations in
    16 bits): the same on every stage, no logits."""
    per_sample = m.activation_bytes_per_sample or 0.0
    scale = act_b / 4.0  # measured in fp32; autocast keeps most activations in 16 bits
    first_act = per_sample * scale * c.mb
    return ActivationTerms(first_act, first_act, np.zeros(len(c)), np.zeros(len(c)))


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
    NCCL buffers, fragmentation) + FSDP2's head buffers beyond the logits (``fsdp2_head_buffers``).

    With ``ranks`` (the chosen plans only: a second and third pass over the states), also rank 0's, the heaviest
    middle rank's and the last rank's memory apart (``rank_class_rows``), which ``rank_memory`` reads.

    More than ``layout.EVAL_BLOCK`` candidates are evaluated that many at a time (``layout.in_blocks``)."""
    return in_blocks(lambda b: _memory_rows(m, t, b, seq, global_batch, stack, gpu, memo, ranks), c)


def stage_states(x: StateContext, c: Candidates, gb, walked, hf) -> StageStates:
    """The first and last stage's model states as ``memory_per_gpu`` prices them: ``model_states``, the deferred
    FSDP gradient sync's one-micro-batch rows, ``autograd_grads``, a frozen base's ``adapter_states``,
    ``optimizer_offload`` and FSDP2's offloaded gradient shard (``fsdp2_offload_grads``)."""
    s = model_states(x)
    if getattr(x.st, "defer_fsdp_grad_sync", False):  # one micro-batch a step: its sync is the last one, nothing held
        one = gb / (c.mb * c.dp) <= 1.0
        if one.any():
            s1 = model_states(dataclasses.replace(x, st=dataclasses.replace(x.st, defer_fsdp_grad_sync=False)))
            s = dataclasses.replace(s, fg=np.where(one, s1.fg, s.fg), lg=np.where(one, s1.lg, s.lg))
    s = autograd_grads(x, s, c, walked, hf)
    if x.b.frozen:  # fp32 adapters, their fp32 gradients and optimizer state, split like the layers
        s = adapter_states(x, s, x.k_layers[x.sinv], c.tp.astype(np.float64))
    return fsdp2_offload_grads(x, optimizer_offload(x, s), c, gb)


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
        loss_w = scan_loss_weights(m, st, c, b.act, (x.largest * np.minimum(x.w_held, 2.0))[x.sinv])
        a = transformer_activations(m, t, given, st, c, seq, gb, b, memo, hf, walked, layers, m_micro, x.g_kept,
                                    loss_w, exact=ranks)
        host_f, host_l = s.host_f + a.host + host_acc[0], s.host_l + a.host + host_acc[1]
    else:
        a = sample_activations(m, c, b.act)
        host_f, host_l = s.host_f + host_acc[0], s.host_l + host_acc[1]

    rt, context = runtime_reserve(gpu, st)  # the platform's runtime: CUDA's context and NCCL, XLA's withheld HBM
    outside = context + rt.per_group * groups + buffers

    def other(act, rows=None):  # (``rows``: the reserve of those rows only, ``act`` theirs: rank_class_rows)
        return _rows_of(outside, rows, len(c)) + allocator_reserve(act, rt.fragmentation)

    first = rank_parts(s.fw, s.fg, s.fo, a.first_act, a.first_logits, fsdp2_head[0], other)
    # rank 0 and the middle rank that peaks each on its own states beside its own activations (rank_class_rows), and
    # "first" the larger of the two: the search fits the peak rank's own total, the one the plan prints (mem43)
    classes = rank_class_rows(x, c, dict(gb=gb, walked=walked, hf=hf, gpu=gpu), a, fsdp2_head[0], other)
    paired, (first, middle) = first, peak_rank_class(classes, first)  # ("other": paired's, recomputed below)
    first_total = first["total"]
    last_parts = rank_parts(s.lw, s.lg, s.lo, a.last_act, a.last_logits, fsdp2_head[1], other)
    last_total = last_parts["total"]
    last = last_total > first_total
    pick = lambda f, l: select(last, l, f)  # noqa: E731 (np.where, branch-free: planner.npfast)
    act = pick(first["activations"], a.last_act)
    lg_ = pick(first["logits"], a.last_logits)
    apart = {}
    if ranks:  # each rank class on its own (the chosen plans: rank_memory)
        apart = {**rank_class_columns(classes, paired, len(c)),
                 **{f"last_{k}": v * np.ones(len(c)) for k, v in last_parts.items()}}
    return apart | dict(
        weights=pick(first["weights"], s.lw), grads=pick(first["grads"], last_parts["grads"]),
        optimizer=pick(first["optimizer"], s.lo),
        activations=act, logits=lg_, other=other(act + lg_), total=np.maximum(first_total, last_total),
        # (one stage: rank 0 is first and last, named "first" as rank_memory names it; mem43b)
        stage=np.where(last & (np.asarray(c.pp) > 1), PEAK_STAGES.index("last"),
                       np.where(middle, PEAK_STAGES.index("middle"), 0)).astype(np.int8),
        host=pick(host_f, host_l) * np.ones(len(c)),
        # the part of ``other`` PyTorch's caching allocator never sees (the CUDA context, NCCL's own
        # cudaMalloc'd buffers): what separates nvidia-smi's figure from torch.cuda.max_memory_reserved
        outside_allocator=outside * np.ones(len(c)),
        # the MoE dispatcher's buffers inside ``other`` (``moe_comm_buffers``; DeepEP / HybridEP, 0 otherwise)
        comm_buffers=buffers * np.ones(len(c)),
        # the last pipeline stage on its own (a stack that logs one rank's memory logs the last:
        # Megatron-LM's tensorboard writer is rank world_size - 1)
        total_last=last_total * np.ones(len(c)), other_last=other(a.last_act + a.last_logits) * np.ones(len(c)),
        # where the walk holds autograd's .grad tensors (in ``activations``; ``autograd_grads``)
        grads_walked=(np.zeros(len(c), dtype=bool) if walked is None else np.broadcast_to(walked, (len(c),))),
    )


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
        rk = np.zeros(nk, dtype=np.intp)  # the rank per state key (a key's rows share one split)
        rk[x.sinv] = np.maximum(rank_rows, 0)
        w, g, o = rank_class_states(rank_state_context(x, kw["gpu"], rk), c, kw, rows)
        at = functools.partial(_rows_of, rows=rows, n=n)
        return rank_parts(w, g, o, at(act), at(a.first_logits), at(head_f), lambda v: other(v, rows))
    out = dict(told=told, **{f"rank0_{k}": v for k, v in priced(np.zeros(n, dtype=np.intp), a.rank0_act).items()})
    # the largest total over the middle ranks priced (the first of equals; -inf: none), each on its priced rows
    best, rank = {k: np.full(n, -np.inf if k == "total" else 0.0) for k in RANK_PARTS}, np.full(n, -1)
    for act, r, ok in zip(a.middle_act, a.middle_rank, a.middle_priced):
        rows = np.flatnonzero(ok)
        if rows.size:
            parts = priced(r, act, rows)
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
    per candidate. The search prices two such ranks on every block (mem43): per key it costs a few gathers.
    ``rows``: those candidates' figures only (None: all)."""
    if kw["walked"] is not None or getattr(xr.st, "defer_fsdp_grad_sync", False) or xr.b.frozen:
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
    return tuple(_rank_memory_row(got, c, i) for i in range(len(c)))


def _rank_memory_row(got: dict, c: Candidates, i: int) -> RankMemory:
    """Row ``i`` of ``memory_per_gpu(ranks=True)`` as a ``RankMemory``."""
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


def _fewest_plain(m: ModelSpec, c: Candidates, runtime, rows) -> np.ndarray:
    """Block recompute's rebuild on the split each row launches: the fewest plain (not checkpointed) layers of any
    non-empty model chunk, c - min(N, c) over its virtual stages (each chunk its own TransformerBlock,
    transformer_block.py ``_checkpointed_forward``), for the rows ``rows`` (a mask); the others 0. The chunk whose
    plain layers free the least before its first N are rebuilt is the one whose rebuild lands highest."""
    out = np.zeros(len(c))
    if not rows.any():
        return out
    at = np.flatnonzero(rows)
    rn = np.asarray(c.rn)[at]
    vv = np.where(split_vpp(c) == V_SPLIT, V_SPLIT, c.chunks)[at]
    tp = np.asarray(c.tp)[at] if tp_dependent(runtime) else 1
    for sel, _, counts in split_per_row(m.layers, np.asarray(c.pp)[at], vv, tp, runtime):
        cs = np.asarray([x for x in counts if x > 0], dtype=np.float64)
        out[at[sel]] = (cs[None, :] - np.minimum(rn[sel][:, None], cs[None, :])).min(axis=1)
    return out


def _largest_chunk(m: ModelSpec, c: Candidates, runtime, rows) -> np.ndarray:
    """The most layers of any model chunk (virtual stage) of the split each row launches, for the rows ``rows`` (a
    mask; the others 0): the largest group Megatron's uniform recompute rebuilds at once is min(g, this), each chunk
    grouping its own layers (transformer_block.py ``_checkpointed_forward``; ``pipeline.fullest_chunk``)."""
    out = np.zeros(len(c))
    if not rows.any():
        return out
    at = np.flatnonzero(rows)
    vv = np.where(split_vpp(c) == V_SPLIT, V_SPLIT, c.chunks)[at]
    tp = np.asarray(c.tp)[at] if tp_dependent(runtime) else 1
    for sel, _, counts in split_per_row(m.layers, np.asarray(c.pp)[at], vv, tp, runtime):
        out[at[sel]] = max(counts)
    return out


def _partial_recompute_saves(m: ModelSpec, t: TrainingSpec, c: Candidates, per_layer, rws, unrecomputed, every=0,
                             runtime=None):
    """Per-layer saves and rebuild peak of full-recompute rows that checkpoint only some layers (Megatron
    ``--recompute-method block|uniform --recompute-num-layers N``); ``per_layer``/``rws`` are the rows' values at
    their recompute code, ``unrecomputed()`` the same rows' values without recompute (called only when needed).

    * block (``c.rn`` > 0): a stage's recomputed share ``f`` (pipeline.recomputed_fraction) keeps only its layers'
      inputs, the other layers everything they save: per layer f x full + (1 - f) x none. transformer_block.py
      checkpoints a chunk's first N layers, so the backward reaches them after the chunk's plain layers have freed
      their saves: a rebuilt layer's working set adds to the peak only where it exceeds those (1 - f) x chunk layers'
      saves (none's own working set at least), nothing at N = 0, full's at N = chunk. With ``runtime`` (the split
      the rows launch) the chunk is the one with the fewest plain layers (``_fewest_plain``: chunks 4, 4, 3, 3 at N 2
      free 1 layer's saves before the 3-layer chunks' rebuild, not the fullest chunk's 2; split40), on every block
      row (uniform40: also where N reaches the fullest share, f 1, and an explicit layout's larger chunk keeps
      plain layers; a chunk at or under N has none, and there the figure is full's as before).
    * uniform (``c.rg`` > 1): ceil(chunk / g) group inputs per chunk, and the backward rebuilds a whole group of g
      layers before differentiating it: the rebuild's one-layer working set plus g - 1 layers' full saves
      (pipeline.uniform_groups), g at most the launched split's largest chunk (``_largest_chunk``; with
      ``runtime``). The saves here are the fullest chunk's ceil(C / g) / C a layer; ``chunk_activations`` /
      ``rank_block_activations`` replace them with each chunk's own ceil(C_j / g) where they differ.
    * torchtitan layer SAC (``every`` > 0, the selective rows of a stack whose selective is "layer"): each
      ``every``-th layer of a rank checkpointed whole (its input), the rest everything: per layer f x full +
      (1 - f) x none as block, the rebuild's working set a whole layer's (``rws``, not reduced: the checkpointed
      layers sit among the plain ones, not below them; none's where no layer is checkpointed, ``every`` above K).
    The in-flight micro-batches multiply the per-layer term as for any plan (stage_layer_microbatches)."""
    layer_sac = (c.rc == 1) & bool(every)
    if not (c.rn.any() or (c.rg > 1).any() or layer_sac.any()):
        return per_layer, rws  # every full-recompute row checkpoints each layer on its own
    full = c.rc == 2
    chunks = c.chunks
    f = recomputed_fraction(c.rc, c.rn, m.layers, c.pp, chunks, every)
    block = full & (f < 1.0)
    uniform = full & (c.rg > 1)
    # block on the launched split (``runtime``): an explicit layout's chunk can hold more than the fullest share, so an
    # N at or above ceil(L / (pp vpp)) (f 1) can still leave plain layers on every chunk (uniform40)
    on = np.broadcast_to(full & (np.asarray(c.rn) > 0), (len(c),))
    fewest = _fewest_plain(m, c, runtime, on) if runtime is not None and on.any() else np.zeros(len(c))
    rebuild = block | (on & (fewest > 0))
    if not (rebuild.any() or uniform.any() or layer_sac.any()):
        return per_layer, rws
    pl0, rws0 = unrecomputed()
    per_layer_b = f * per_layer + (1.0 - f) * pl0
    plain = (1.0 - f) * chunk_layers(m.layers, c.pp, chunks)  # the fullest chunk's plain layers
    kept, g = uniform_groups(m.layers, np.maximum(c.rg, 1), c.pp, chunks)
    if runtime is not None:
        plain = np.where(on & (np.abs(fewest - plain) > 1e-9), fewest, plain)
        # a uniform group reaches past the fullest share's layers on an explicit layout's larger chunk
        top = _largest_chunk(m, c, runtime, np.broadcast_to(uniform, (len(c),)))
        g = np.where(uniform, np.minimum(np.maximum(c.rg, 1), np.maximum(top, 1.0)), g)
    rws_b = np.maximum(rws0, rws - plain * pl0)
    per_layer = np.where(block | layer_sac, per_layer_b, np.where(uniform, kept * per_layer, per_layer))
    rws = np.where(rebuild, rws_b,
                   np.where(uniform, rws + (g - 1.0) * pl0, np.where(layer_sac & (f == 0), rws0, rws)))
    return per_layer, rws


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
    rule for the memory (``memory_per_gpu``) and the checkpoint (planner.simulate.config ``_checkpoint_bytes``)."""
    if _hf_code(m, t, stack) == "amp_bf16" and t.weights != "amp":
        return t.model_copy(update={"weights": "amp"})
    return t


def hf_attention_saves_share(m: ModelSpec, seq: int, micro_batch: int, precision: str, impl: str) -> float:
    """The attention blocks' share (with their input norm) of a layer's saves in the HF table without checkpointing
    (activations_hf ``_saved_rows``: each block's (attention, MLP) bytes per token in the order its backward frees
    them); 0 where the table gives no split."""
    from planner.model.activations_hf import _saved_rows, hf_model_type

    rows = _saved_rows(m, m.hf_model_type or hf_model_type(m), int(seq), int(micro_batch), precision, impl, False)[2]
    attn, total = sum(r[0] for r in rows), sum(r[0] + r[1] for r in rows)
    return attn / total if total else 0.0


def hf_ep_rank_share(m: ModelSpec, seq, micro_batch: int, tp: float, recompute: int, plan, attn_share: float) -> float:
    """A rank's share of a layer's saves on the HF code under its transformers EP plan ``plan`` (moe ``HfEpPlan``):
    the attention blocks' saves (``attn_share`` of them, ``hf_attention_saves_share``) whole unless the plan splits
    attention (then the fused table's attention half at ``tp`` over TP 1, as ``hf_tp_share``), an MoE layer's MLP half
    whole, a dense layer's MLP half whole unless the plan splits the dense MLP. The MoE half is whole because
    transformers' ``grouped_mm_experts_forward`` (integrations/moe.py) gathers, sorts and runs all S = T x top_k
    (token, expert) rows on every rank -- ``EpRouterParallel`` (distributed/tensor_parallel.py) only points the other
    ranks' rows at a sentinel expert past the local ones and zeroes their weights -- so its saved ``(S, hidden)``
    inputs, ``(S, 2 x intermediate)`` gate/up output and ``(S, intermediate)`` gated output are the single-GPU sizes;
    the router and the shared experts are whole modules. Under gradient checkpointing a layer keeps its input,
    whole. Until hfep35: the attention whole (hfep34) and every other save at the layer's mean TP share, the
    experts' as if split over TP."""
    if int(recompute) == 2:
        return 1.0
    kw = dict(cp=1, flash=True, dropout=False, act_bytes=2, sp=False, recompute=0)

    def half(kind, at):  # the fused table's bytes of one half of a layer at TP ``at``
        return float(layer_activation_bytes(m, seq, int(micro_batch), tp=at, moe=kind == "E", kind=kind, **kw))

    s_attn = half("*", tp) / half("*", 1) if plan.attention else 1.0
    n_moe = m.moe_layers
    n_dense = m.layers - n_moe
    dense_one = n_dense * half("-", 1) if n_dense else 0.0
    dense_rank = (n_dense * half("-", tp) if plan.dense_mlp else dense_one) if n_dense else 0.0
    moe_one = n_moe * half("E", 1)
    moe_rank = n_moe * half("E", tp) if getattr(plan, "moe", False) else moe_one  # a TP plan's split experts
    s_mlp = (moe_rank + dense_rank) / (moe_one + dense_one)
    return attn_share * s_attn + (1.0 - attn_share) * s_mlp


def hf_rank_share(m: ModelSpec, seq, micro_batch: int, tp: float, sp: bool, recompute: int, plan,
                  precision: str, impl: str) -> float:
    """One distinct (micro-batch, TP, SP, recompute) row's share of a layer's saves on the HF code: ``hf_tp_share``
    under its TP plan (``plan`` None), ``hf_ep_rank_share`` under an EP plan."""
    if plan is None:
        return float(hf_tp_share(m, seq, int(micro_batch), float(tp), bool(sp), int(recompute)))
    return hf_ep_rank_share(m, seq, micro_batch, tp, recompute, plan,
                            hf_attention_saves_share(m, seq, int(micro_batch), precision, impl))


def hf_rank_shares(m: ModelSpec, seq, micro_batch, tp, sp, recompute, codes, plans, precision: str,
                   impl: str) -> list[float]:
    """``hf_rank_share`` of each distinct key (arrays: micro-batch, TP, SP, recompute and its ``hf_ep_rows`` code),
    the rows under the TP plan (``plans[code]`` None) priced in one vectorised ``hf_tp_share`` call (elementwise, so
    each row's own value; a call per key was a quarter of a cold HF-stack memory call at 10^4 candidates, speed41),
    the others one by one."""
    tp_rows = np.array([plans[int(k)] is None for k in codes], dtype=bool)
    out = np.zeros(len(codes))
    if tp_rows.any():
        out[tp_rows] = hf_tp_share(m, seq, np.asarray(micro_batch, dtype=np.int64)[tp_rows],
                                   np.asarray(tp, dtype=np.float64)[tp_rows], np.asarray(sp, dtype=bool)[tp_rows],
                                   np.asarray(recompute, dtype=np.int64)[tp_rows])
    out = out.tolist()
    for i in np.flatnonzero(~tp_rows):
        out[i] = hf_rank_share(m, seq, micro_batch[i], tp[i], sp[i], recompute[i], plans[int(codes[i])], precision,
                               impl)
    return out


#: the split DeepSpeed's AutoTP gives an MoE model's layers (``Stack.tp_splits_experts`` False, rule
#: ``ds-autotp-etp``), as ``hf_ep_rank_share`` reads a plan: attention and a dense layer's MLP split over TP (nn.Linear),
#: the MoE half whole (the 3-D experts run all T x top_k rows on every rank; its shared experts, nn.Linear and so
#: split, are priced whole with it -- first order)
AUTOTP_MOE = HfEpPlan(True, True, "deepspeed/module_inject/auto_tp.py AutoTP.tp_parser (nn.Linear only)")


def hf_ep_rows(m: ModelSpec, stack, tp, ep):
    """Per candidate, the plan whose split ``hf_ep_rank_share`` prices (``hf_rank_share``), as (codes, plans): code 1
    where the HF code runs its transformers EP plan (moe ``hf_ep_plan`` read, EP > 1, TP > 1), 2 where DeepSpeed's
    AutoTP leaves the experts whole (``AUTOTP_MOE``: EP 1, TP > 1), 3 under DeepSpeed's AutoEP (EP > 1: the TP plan's
    share, the experts' gradients over EP), 4 under a transformers TP plan that leaves a part whole (moe
    ``HF_TP_PLANS``: EP 1, TP > 1), else 0 (the TP plan, ``hf_tp_share``); ``plans[code]`` the plan (None for 0, 3)."""
    tp, ep = np.asarray(tp), np.asarray(ep)
    plan = moe_mech_plan(m, stack)
    codes = np.zeros(np.broadcast(tp, ep).shape, dtype=np.int64)
    if plan is not None:
        codes = np.where((ep > 1) & (tp > 1), 1, codes)
    if m.moe is not None and not getattr(stack, "tp_splits_experts", True):
        codes = np.where((ep == 1) & (tp > 1), 2, codes)
    tplan = hf_tp_plan(m, stack)
    if tplan is not None:  # a TP plan that leaves a part whole (moe HF_TP_PLANS: DeepSeek-V3's attention)
        codes = np.where((ep == 1) & (tp > 1), 4, codes)
    if m.moe is not None and getattr(stack, "moe_ep_tp_fold", False):
        # AutoEP (Stack.moe_ep_tp_fold): the saves at the TP plan's share (each TP peer runs 1 / TP of the expert rows),
        # the experts' gradients over EP (``hf_grad_share``)
        codes = np.where(ep > 1, 3, codes)
    return codes, (None, plan, AUTOTP_MOE, None, tplan)


def hf_grad_share(m: ModelSpec, stack, tp: float, code: int, ep: float = 1.0) -> float:
    """The share of the model's weight gradients one rank of the HF code holds, as it holds the weights
    (``dense_rank``): 1 / tp under its TP plan (``hf_ep_rows`` code 0); under an EP plan (code 1) the parameters it
    leaves whole (moe ``hf_ep_whole_params``) whole and the rest over TP (the experts over EP = TP); under DeepSpeed's
    AutoTP (code 2) the routed experts whole and the rest over TP; under a TP plan that leaves a part whole (code 4,
    moe ``HF_TP_PLANS``) that part whole; under AutoEP (code 3) the routed experts over
    ``ep`` (``E / ep`` whole experts a rank) and the rest over TP. Until hfep35 1 / tp for all three; until dsep35
    AutoEP was code 1's."""
    pc = count_params(m)
    if code == 3:
        experts = float(m.moe.experts * pc.expert * pc.n_moe_layers)
        return (experts / ep + (pc.total - experts) / tp) / pc.total
    if code == 0 or tp <= 1:
        return 1.0 / tp
    experts = float(m.moe.experts * pc.expert * pc.n_moe_layers)
    # code 4: a TP plan's whole parts (moe HF_TP_PLANS: DeepSeek-V3's attention) whole, the rest over TP
    whole = (float(hf_ep_whole_params(m, stack, tp, 2)) if code == 1 else
             float(hf_ep_whole_params(m, stack, tp, 1)) if code == 4 else experts)
    return (whole + (pc.total - whole) / tp) / pc.total


def hf_tp_share(m: ModelSpec, seq, micro_batch, tp, sp, recompute):
    """The share of one layer's saved activations a tensor-parallel rank of the HF model code keeps, per candidate:
    the fused-kernel table's (activations.layer_activation_bytes, Korthikanti et al. 2022 Table 2) bytes at (tp, sp)
    over its bytes at TP 1, the HF code's own table (activations_hf) being a single-GPU one. Without sequence
    parallelism (Stack.tp_sequence_parallel False: transformers' colwise / rowwise plans, DeepSpeed AutoTP) the norm
    inputs, the column-parallel layers' replicated inputs and the residual stream stay whole and only the attention
    and MLP intermediates split; under gradient checkpointing (``recompute`` 2) a layer keeps its input, whole. The
    HF code has no selective recompute: code 1 keeps everything (0). Until hfsp34 every byte was divided by TP."""
    rc = np.where(np.asarray(recompute) == 2, 2, 0)
    kw = dict(cp=1, flash=True, dropout=False, act_bytes=2)
    one = mean_layer_activation_bytes(m, seq, micro_batch, tp=1, sp=False, recompute=rc, **kw)
    return mean_layer_activation_bytes(m, seq, micro_batch, tp=tp, sp=sp, recompute=rc, **kw) / one


def _hf_activation_arrays(m: ModelSpec, t: TrainingSpec, c: Candidates, seq, precision: str, stack=None):
    """Per-layer saves, recompute working set and the head's saves + logits/loss transients of
    the HF table (activations_hf.hf_activations) for each candidate. HF code has no selective
    recompute: "selective" plans keep everything, "full" is gradient checkpointing per block.
    A cp split divides the tokens' bytes evenly (first order); a tp split keeps ``hf_tp_share`` of a layer's and
    the head's whole logits: transformers' ``lm_head`` is ``colwise_gather_output`` (models/llama/modeling_llama.py
    ``LlamaForCausalLM._tp_plan``), a gathered output on every rank. The head's weight-sized bytes
    (``HFActivations.head_weight``: Liger's saved head-weight gradient, a frozen head's autocast cast) are not
    tokens': they go by ``activations_hf.hf_rank_peak``'s rule, the walked step's (at the rank's share of the weights,
    ``hf_grad_share``, and NOT over cp: context parallelism shards the sequence, not the weights; accelerate
    docs/source/concept_guides/context_parallelism.md). Until hftab44 they were over cp and whole on a TP rank.
    The layers' pieces (``per_layer``, ``recompute``) are tokens' bytes alone -- the saves, the DynamicCache, a
    recomputed block's working set; on these rows autocast's weight copies sit in the weight term and the
    gradients in theirs (``autograd_grads``), neither over cp -- so the whole of them goes over cp, the rule the walk
    gives its layers' part (checked for mem45: Llama-3-8B under the HF Trainer, 4,096 tokens, TP2 PP4 DP8, CP1 ->
    CP2: activations 36.53 -> 18.27 GiB, weights 6.34 and gradients 4.23 GiB at both)."""
    from planner.model.activations_hf import hf_attn_impl, hf_rank_peak

    impl = hf_attn_impl(m, t.flash_attention, hf_attn_choice(stack, m, t))  # the stack's attn_implementation
    on_ep, plans = hf_ep_rows(m, stack, c.tp, c.ep)  # rows under an HF EP plan or AutoTP (hf_ep_rank_share)
    # (ep only where AutoEP's weight share depends on it, code 3, as _hf_walk_arrays)
    (kmb, krc, ktp, kcp, ksp, kwh, kep), inv = distinct_rows(c.mb, c.rc, c.tp, c.cp, c.sp,
                                                             np.broadcast_to(on_ep, c.tp.shape),
                                                             np.where(on_ep == 3, c.ep, 1))
    rows = []
    # the loss as Liger's fused linear cross-entropy (Stack.fused_cross_entropy): a frozen head (LoRA's) gets no
    # weight gradient from it
    fused = bool(getattr(stack, "fused_cross_entropy", False))
    held = bool(getattr(stack, "loop_holds_output", False))  # the loop keeps the model output through backward
    head_trains = not frozen_base(m, t)
    spec = m.model_dump_json()
    shares = hf_rank_shares(m, seq, kmb, ktp, ksp, krc, kwh, plans, precision, impl)
    for mb, rc, tp, cp, wh, ep, share in zip(kmb, krc, ktp, kcp, kwh, kep, shares):
        r = _hf_table(m, spec, int(seq), int(mb), precision, impl, int(rc) == 2, fused, head_trains, held)
        div = float(cp) / float(share)
        # the head as one moment of hf_rank_peak: no layers' part, the tokens' bytes whole on a TP rank, over cp
        head = r.outside + r.logits_transient
        g_share = hf_grad_share(m, stack, float(tp), int(wh), float(ep)) if r.head_weight else 1.0
        rows.append((r.per_layer / div, r.recompute / div,
                     hf_rank_peak(np.array([[head, head - r.head_weight, r.head_weight]]), 1.0, g_share, cp)))
    arr = np.asarray(rows, dtype=np.float64)[inv]
    return arr[:, 0], arr[:, 1], arr[:, 2]


def _hf_walk_arrays(m: ModelSpec, t: TrainingSpec, c: Candidates, seq, precision: str, stack, m_micro, kept=None):
    """What one training step of the HF model code creates on a GPU, per candidate, as
    (activations, logits): the walked peak of ``activations_hf.hf_step_memory`` (the larger of
    the forward's and the step's; within 5% of real transformers runs for all 360 case
    classes, tests/test_hf_memory.py) less, for the report only, its vocab-wide part (the logits
    and the loss' largest transient) given as ``logits``. Parameters, gradient buffers and
    optimizer state, which exist before the step, are ``memory_per_gpu``'s own terms; which
    gradients the walk keeps follows the stack:

    * ZeRO-0 (DDP): accelerate's ``DistributedDataParallelKwargs.gradient_as_bucket_view`` is
      False by default (accelerate/utils/dataclasses.py), so DDP's reducer keeps its bucket
      tensors (allocated at construction: the plan's gradient term) and autograd's ``.grad``
      tensors besides — the walk keeps them as they appear; with gradient accumulation
      (``m_micro`` > 1) they exist from the first micro-batch on: walk without them + all of them.
      ZeRO-1 without overlapped reduction (DeepSpeed ``stage_1_and_2.py`` registers its
      reduce-and-remove hooks only ``if self.partition_gradients or self.overlap_comm``): the same;
      so DeepSpeed's ZeRO-1 at any ``overlap_comm`` (its engine forces it off at stage 1:
      ``ZeroStageStates`` in planner.model.stacks);
    * DeepSpeed's ``BF16_Optimizer`` (ZeRO-0; the pipeline engine's ZeRO-1): nothing frees the bf16
      ``.grad`` at the step, so the last backward's are held through every forward: walk without
      them + all of them, with or without accumulation;
    * ZeRO-1 with overlap, ZeRO-2: each gradient is reduced in a bucket and removed
      (``reduce_ready_partitions_and_remove_grads``; the rank's partition is DeepSpeed's
      contiguous gradient buffer, FSDP SHARD_GRAD_OP's sharded gradient: the plan's term); the
      walk keeps each weight gradient only until its block's phase ends (the in-flight
      reduction bucket is the plan's gradient term where the stack's table has one,
      ``zero_stage_states``);
    * ZeRO-3 / FSDP: reduce-scatter per block and free (FSDP's post-backward hook; DeepSpeed
      stage3.py), as ZeRO-2; and no autocast copies: accelerate's FSDP plugin gathers the weights
      in bf16 (``MixedPrecision(param_dtype=bf16)``, ``set_mixed_precision``), the gathered
      layers being the plan's weight term (DeepSpeed ZeRO-3 under torch autocast is taken the same).

    The model output (logits, DynamicCache) is freed before the backward where the stack's loop drops it
    (``Stack.loop_holds_output`` False: HF Trainer's ``compute_loss`` / ``training_step``), kept through it otherwise.

    ``kept``: per candidate, which of these holds (``KEPT_*`` of ``zero_stage_states``, the stack's rows);
    None: the paper convention's rows. A tp split keeps, at each moment of the walk, ``hf_tp_share`` of its
    activations, the whole vocab-wide part (the gathered logits, the loss's transients and its saved log-softmax; and
    the tokens' tensors outside the blocks, the head's input among them: whole on every TP rank, mem45) and
    ``hf_grad_share`` of the weight-sized tensors live then (the weight gradients, autocast's weight copies, Liger's
    head-weight gradient); a cp split divides the activations and the vocab-wide part evenly (the rank's own tokens;
    first order, as ``_hf_activation_arrays``), not the weight-sized tensors (CP splits the sequence, not the
    weights): the rank's peak is the largest of those over the moments (``activations_hf.hf_rank_peak``, the one
    rule, also for the gradients added to a walk without them; until hfwalk44 the peak's total was split as if it
    held all the logits and all the gradients at once, negative under checkpointing; until hfvocab44 the log-softmax
    and the copies were at the activations' share; until hfcp44 the weight-sized tensors were divided by cp too).
    Liger's head-weight gradient is always walked as a training head's: a walked row trains its head (the one frozen
    head is a frozen base's, LoRA's / QLoRA's, which ``memory_per_gpu`` never walks: its ``walked``).
    Computed once per distinct (micro-batch, recompute, tp, cp, sp): the walk is O(layers), cached with the few
    moments that can hold a rank's peak (``hf_walk_front``)."""
    from planner.model.activations_hf import hf_attn_impl, hf_model_type, hf_rank_peak

    impl = hf_attn_impl(m, t.flash_attention, hf_attn_choice(stack, m, t))  # the stack's attn_implementation
    mt = hf_model_type(m)
    spec = m.model_dump_json()
    fused = bool(getattr(stack, "fused_cross_entropy", False))  # Liger's fused linear cross-entropy
    held = bool(getattr(stack, "loop_holds_output", False))  # HF Trainer: the output dropped before backward
    zero = np.asarray(c.zero)
    if kept is None:
        kept = zero_stage_states(stack, t, 0.0)[4][np.clip(zero, 0, 3)]
    kept = np.asarray(kept)
    keep = kept != KEPT_NONE
    # the walks a key needs: with kept gradients (DDP), without, without autocast copies (ZeRO-3)
    variants = [(False, True)] + [(True, True)] * bool(keep.any())
    if precision == "amp_bf16" and (zero >= 3).any():
        variants.append((False, False))
    on_ep, plans = hf_ep_rows(m, stack, c.tp, c.ep)  # rows under an HF EP plan or AutoTP (hf_ep_rank_share)
    # ep only where AutoEP's gradients depend on it (code 3)
    (kmb, krc, ktp, kcp, ksp, kwh, kep), inv = distinct_rows(c.mb, c.rc, c.tp, c.cp, c.sp,
                                                             np.broadcast_to(on_ep, c.tp.shape),
                                                             np.where(on_ep == 3, c.ep, 1))
    rows = []
    shares = hf_rank_shares(m, seq, kmb, ktp, ksp, krc, kwh, plans, precision, impl)
    for mb, rc, tp, cp, wh, ep, share in zip(kmb, krc, ktp, kcp, kwh, kep, shares):
        got = {v: _walk(m, spec, mt, int(seq), int(mb), precision, impl, int(rc) == 2, *v, fused, held)
               for v in variants}
        _, grads, vocab = got[(False, True)]
        g_share = hf_grad_share(m, stack, float(tp), int(wh), float(ep))
        # one rank's walk: the layers' share, the gathered logits, its weight gradients, moment by moment
        walks = [got.get(v, got[(False, True)])[0] for v in ((False, True), (True, True), (False, False))]
        # the gradients added to a walk without them: a weight-sized amount alone (moments [[g, 0, g]]), at the
        # rank's weight share and not over cp, by hf_rank_peak's one rule
        rows.append((*(hf_rank_peak(x, share, g_share, cp) for x in walks),
                     hf_rank_peak(np.array([[grads, 0.0, grads]]), share, g_share, cp), vocab / float(cp)))
    passed, kept_walk, no_casts, grads, vocab = np.asarray(rows, dtype=np.float64)[inv].T
    held_all = (np.asarray(m_micro) > 1) | (kept == KEPT_PERSIST)  # every .grad held from the first forward on
    peak = np.where(zero >= 3, no_casts, np.where(keep, np.where(held_all, passed + grads, kept_walk), passed))
    # (a rank's peak is at least its vocab-wide tensors' largest moment: only rounding of the split goes below)
    return np.maximum(peak - vocab, 0.0), vocab


_WALKS: dict = {}  # the walks of recent plans (a search evaluates the same model on each hardware option)
_HF_TABLES: dict = {}  # the HF table's cut of recent plans (``_hf_table``), kept as the walks are


def _hf_table(m: ModelSpec, spec: str, seq: int, mb: int, precision: str, impl: str, gc: bool, fused_ce: bool,
              head_trains: bool, output_held: bool):
    """``activations_hf.hf_activations`` (its own walk of the step included), cached as ``_walk`` is, by the model's
    JSON and the step's shape: it depends on the micro-batch and checkpointing of a candidate alone, yet was read
    once per (micro-batch, recompute, tp, cp, sp) key of every call (36 times on 10^4 random layouts, 6 distinct;
    speed41)."""
    from planner.model.activations_hf import hf_activations

    key = (spec, seq, mb, precision, impl, gc, fused_ce, head_trains, output_held)
    if key not in _HF_TABLES:
        if len(_HF_TABLES) > 4096:
            _HF_TABLES.clear()
        _HF_TABLES[key] = hf_activations(m, seq, mb, precision, impl, gc, fused_ce=fused_ce, head_trains=head_trains,
                                         output_held=output_held)
    return _HF_TABLES[key]


def _walk(m: ModelSpec, spec: str, mt: str, seq: int, mb: int, precision: str, impl: str, gc: bool,
          keep: bool, casts: bool, fused_ce: bool = False, output_held: bool = True) -> tuple:
    """(the moments that can hold a rank's peak, all gradients, vocab-wide part) of one step (``hf_step_walk``,
    ``hf_walk_front``), cached by the model's JSON and the step's shape."""
    from planner.model.activations_hf import hf_step_walk, hf_walk_front

    key = (spec, mt, seq, mb, precision, impl, gc, keep, casts, fused_ce, output_held)
    if key not in _WALKS:
        if len(_WALKS) > 4096:
            _WALKS.clear()
        s, moments = hf_step_walk(m, mt, seq, mb, precision, impl, gc, keep, casts, fused_ce, output_held)
        _WALKS[key] = (hf_walk_front(moments), s.grads, s.vocab)
    return _WALKS[key]
