"""Mixture-of-experts mechanics of one MoE layer on one rank, one function per concept, vectorised
over candidate layouts. ``layer_ops.layer_terms`` composes them; nothing here is fitted.

* ``grouped_gemm_time`` — the local experts' GEMMs as one grouped GEMM; ``grouped_gemm_host_ops`` its
  per-expert host cost (``TE_GROUPED_GEMM_PER_EXPERT_S``).
* ``moe_layer`` — composes the rest into one MoE layer's times on one rank.
* ``eager_expert_ops`` / ``fused_mlp_bytes`` — what TEGroupedMLP's eager ops add, and what Transformer
  Engine's fused grouped MLP (``Stack.moe_fused_mlp``) takes out of the experts' memory-bound passes.
* ``expert_load`` — the busiest expert's rows over the mean (imbalance, capacity factor, padding).
* ``rank_load`` — the busiest EP rank's rows over its mean: ``expert_load``, at most ``ep`` (the group's routed rows).
* ``expert_shapes`` — which tokens and which weight shard each rank's expert GEMMs see, under
  expert parallelism (EP) and expert-tensor parallelism (ETP; Megatron-Core "MoE parallel
  folding", ``--expert-tensor-parallel-size``, megatron/core/parallel_state.py: the expert grid
  is etp x ep x edp x pp over the same ranks as the attention's tp x cp x dp x pp).
* ``dispatch_bytes`` — bytes one rank sends in one token dispatch (the combine sends as many
  back), split into the part that stays in the node and the part that crosses the NIC, for the
  stack's token dispatcher (``DISPATCHERS``); ``dispatch_extra_time`` what HybridEP moves beside them
  (its routing-map all-gather, its probability rows).
* ``permute_bytes`` — HBM traffic of the token permutation/unpermutation around the experts;
  ``chunk_sort_bytes`` the all-to-all dispatcher's second sort by local expert and back.
* ``dispatch_sync_s`` — GPU idle at a dropless dispatcher's device-to-host sync of the token
  counts (``MOE_SYNC_OPS``); ``post_sync_exposed_s`` what Megatron-Core's host ops past that sync
  (``post_sync_host_ops``) take beyond the GPU work behind it, GPU idle too.
* ``a2a_paired_share`` / ``a2a_overlap_hidden`` — the share of micro-batches the combined-1F1B
  schedule (Megatron-Core ``--overlap-moe-expert-parallel-comm``) pairs, and how much of a
  paired layer's all-to-all the other micro-batch's compute hides.
* ``shared_stream_hidden`` — how much of a layer pass's dispatch and combine the shared experts hide when the
  stack runs them on a second stream beside the routed path, as its code places them (``SHARED_STREAM_SCHEDULES``:
  NeMo AutoModel's ``Stack.moe_shared_stream``, Megatron-Core's ``--moe-shared-expert-overlap``).
* ``mtp_gemm_shapes`` — the extra GEMM of a multi-token-prediction module (DeepSeek-V3 §2.2).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import comb, gcd
from typing import Any, Callable

import numpy as np

from hardware_catalog.catalog import nvlink_joined
from planner.hardware.platform import cuda_compute_capability
from planner.model.comm import a2a_time, collective_time, members_per_node, placed_collective_time
from planner.model.pipeline import interleaved_warmup
from planner.spec.params import (GATELESS_ROUTINGS, attention_params, count_params, mlp_params, norm_params,
                                 router_params)
from planner.spec.shapes import shared_expert_width
from planner.vocab import MOE_DISPATCHER

#: Host seconds per expert GEMM of Transformer Engine's multi-stream grouped GEMM (TE ``GroupedLinear`` ->
#: ``general_grouped_gemm`` -> ``nvte_multi_stream_cublas_gemm``), the path TEGroupedMLP runs: one cuBLASLt
#: call per expert, each with its own descriptor / layout set-up and ``cublasLtMatmulAlgoGetHeuristic``
#: query (transformer_engine/common/gemm/cublaslt_gemm.cu ``cublas_gemm``) before the launch on one of a
#: few streams. Keyed by the GEMM's operand scaling (``GROUPED_GEMM_SCALING``: block-scaled operands set
#: their scale tensors and modes on every call's descriptor), both from benchmarks/data/parts/grouped_gemm.csv:
#:
#: * ``block``: measured on SM100 (NVIDIA/TransformerEngine PR #3134, benchmarks/linear/
#:   benchmark_grouped_linear.py, per-tensor NVFP4, TN fprop, 8 experts x 128 tokens, N = K = 2048, "pure"
#:   rows: operands prepared, GEMMs only): the per-expert loop takes 0.267 ms where one single-launch
#:   grouped kernel does the same work in 0.069 ms, i.e. (0.267 - 0.069) / 8 = 24.75 us per expert GEMM more.
#:   MXFP8 and Float8BlockScaling (also block-scaled) are assumed to pay the same; no loop measurement of either was
#:   found.
#: * ``tensor`` (bf16 / fp16 and per-tensor fp8): an upper bound, not a fit. TE 2.7's multi-stream path
#:   runs 16 experts x 2048 tokens of a 768 x 2048 bf16 projection on H100 at 553.9 TFLOP/s
#:   (NVIDIA/TransformerEngine PR #2045, @yaox12's table: 2 x 16 x 2048 x 768 x 2048 FLOPs in 186.1 us): a
#:   host slower than 186.1 / 16 = 11.6 us per expert would have made the 16 calls take longer than
#:   measured, so the per-tensor set-up costs at most that; the planner charges the bound (the slower,
#:   budget-safe side). The NVFP4 figure is twice it: it cannot be the bf16 path's.
#: Charged per expert GEMM (2 per local expert forward: fc1, fc2; the backward's dgrad + wgrad of both are the
#: BWD_HOST_FACTOR x forward of every host op); none where the MLP runs as one fused kernel chain
#: (``Stack.moe_fused_mlp``).
TE_GROUPED_GEMM_PER_EXPERT_S = {
    "block": (0.267e-3 - 0.069e-3) / 8,
    "tensor": 2 * 16 * 2048 * 768 * 2048 / 553.945e12 / 16,
}
#: the operand scaling of each low-precision recipe's GEMMs (planner.model.stack_kernels.RECIPES); 16-bit GEMMs
#: (no recipe) are ``tensor``: TE's MXFP8BlockScaling (32-element blocks), NVFP4BlockScaling (16-element
#: blocks) and Float8BlockScaling (128-element / 128x128 blocks, a scale tensor per expert operand) against per-tensor
#: current / delayed scaling and torchao rowwise (a scale vector per operand)
GROUPED_GEMM_SCALING = {"tensorwise": "tensor", "delayed": "tensor", "rowwise": "tensor", "blockwise": "block",
                        "mxfp8": "block", "nvfp4": "block"}

# Host ops an MoE layer adds with grouped expert GEMMs (Megatron-Core MoELayer with
# TEGroupedMLP and the all-to-all dispatcher): router linear, top-k, softmax/scores, aux
# bookkeeping, permute, the token-count exchange, two all-to-alls, two grouped GEMMs, the
# activation, unpermute — about 16 in forward. Without grouping: 4 per local expert (a GEMM
# launch per projection and its index/scatter ops).
MOE_HOST_OPS_GROUPED = 16.0
#: Of those, the ones in the parts Megatron-Core's CUDA graphs can capture apart (``--cuda-graph-scope``,
#: planner.model.stacks ``cuda_graph_host_ops``): ``moe_router`` "captures operations in
#: TransformerLayer._forward_mlp() up to MoELayer.router()" (arguments.py help): the router linear, top-k,
#: softmax / scores and the aux-loss bookkeeping, 4; ``moe_preprocess`` "captures operations in
#: MoELayer.preprocess()": the dispatcher's token counts per expert and the split sizes built from them, 2 (of the
#: list above, the token-count exchange and its bookkeeping). The rest (permute, the two all-to-alls, the two
#: grouped GEMMs, activation, unpermute) is outside both and stays eager under a dropless MoE.
MOE_GRAPH_OPS = {"moe_router": 4.0, "moe_preprocess": 2.0}

#: Token dispatchers (``training.framework.moe_dispatcher``) and what crosses the node boundary.
#:
#: * ``alltoall``: Megatron-Core ``MoEAlltoAllTokenDispatcher`` (token_dispatcher.py): tokens are
#:   permuted into one row per (token, chosen expert) and exchanged with ``all_to_all_single``
#:   over the EP group: a token whose k experts sit on r remote ranks is sent k times, whatever
#:   node those ranks are on.
#: * ``deepep`` / ``hybridep``: Megatron-Core ``MoEFlexTokenDispatcher`` with DeepEP
#:   (deepseek-ai/DeepEP "normal" kernels) or NVIDIA HybridEP: a token is sent across the network
#:   once per destination *node* (to the GPU with the same local index there) and forwarded over
#:   NVLink to the GPUs holding its experts (DeepSeek-V3 technical report §3.2.2: "each token is
#:   first transmitted via IB to the GPUs with the same in-node index on its target nodes ...
#:   instantaneously forwarded via NVLink"; DeepEP README, "asymmetric-domain bandwidth
#:   forwarding"). Inside a node it sends one copy per destination GPU.
DISPATCHERS = {"alltoall": False, "deepep": True, "hybridep": True}  # name -> deduplicates per node/GPU

#: Whether the dispatcher's combine is an MoE block's last forward op that feeds its backward: PyTorch's non-reentrant
#: checkpoint with early stop (``Stack.recompute_early_stop``; torch/utils/checkpoint.py ``_StopRecomputationError``,
#: raised once the re-run has packed as many saved tensors as the forward did) ends the re-run at the last saved
#: tensor, so a combine that saves none, with nothing after it that saves one, is not re-run.
#:
#: * ``deepep``: the flex dispatcher unpermutes *before* the combine (Megatron-Core token_dispatcher.py
#:   ``MoEFlexTokenDispatcher.token_unpermutation``: ``get_restored_hidden_states_by_experts``, whose unpermute saves
#:   its row map, then ``combine``; NeMo AutoModel vendors it, components/moe/megatron/token_dispatcher.py), and
#:   ``FusedCombine.forward`` (fused_a2a.py, Megatron-Core's and AutoModel's copy) keeps only ``ctx.handle`` /
#:   ``ctx.group``, no ``save_for_backward``; what follows in AutoModel's ``MoE.forward`` (the shared experts' join
#:   ``y + z``) and its blocks (the residual add) saves nothing. On: AutoModel's DeepEP rows re-run the dispatch
#:   and the experts, not the combine (``rerun_combine_skip``).
#: * ``alltoall``: the all-to-all returns the permuted rows and the unpermute after it saves its indices (Megatron-Core
#:   ``MoEAlltoAllTokenDispatcher.token_unpermutation``; torchtitan's ``scatter_add`` by token index): re-run.
#: * ``hybridep``: ``HybridEPCombine`` not read for what it saves: re-run (the dearer price).
#:
#: A LatentMoE block re-runs it anyway: ``fc2_latent_proj`` reads the combined rows and saves them.
COMBINE_UNSAVED = {"alltoall": False, "deepep": True, "hybridep": False}


@dataclass(frozen=True)
class DispatcherNeeds:
    """What a token dispatcher's kernel library needs of the hardware (``DISPATCHER_NEEDS``): CUDA compute capability
    ``cc_min`` and up (x 10, planner.hardware.platform ``cuda_compute_capability``) on NVIDIA parts only, NVLink with
    peer access between every pair of a node's GPUs (``gpu.intra_node_link`` "NVLink<n>"; PCIe boxes and 2-GPU
    NVLink bridges are not), and, where its group (the experts' TP x EP ranks) spans nodes, a scale-out fabric in
    ``fabrics`` (the catalog's ``fabric`` column, or the family of the job's ``cluster.fabric``; None: a bare GPU
    cluster whose network the job (``inter_node_gbps``) or the reference row states without one, taken as the ConnectX
    RDMA NICs of the clusters built for multi-node training);
    ``source``: the library's own words for it."""
    package: str
    cc_min: int
    fabrics: tuple[str | None, ...]
    source: str

    def gpu_refusal(self, name: str, gpu) -> str | None:
        """Why ``gpu`` cannot run this dispatcher at all (any layout), or None."""
        from planner.hardware.platform import cuda_compute_capability, platform_of

        plat = platform_of(gpu)
        if plat is None:  # a measured profile's device: nothing known to refuse on
            return None
        cc = cuda_compute_capability(gpu) if plat == "cuda" else None
        link = str(getattr(gpu, "intra_node_link", "") or "")
        if plat != "cuda" or (cc is not None and cc < self.cc_min):
            has = f"{gpu.name} is {cc / 10:.1f}" if cc is not None else f"{gpu.name} is not NVIDIA's"
            return (f"{self.package} ({name}) needs an NVIDIA GPU of compute capability {self.cc_min / 10:.1f} or up; "
                    f"{has}")
        if not nvlink_joined(link):
            return f"{self.package} ({name}) needs NVLink between every pair of a node's GPUs; {gpu.name} has {link}"
        return None

    def need(self, name: str) -> str:
        """What a GPU needs for it, as recommend's "left out" lines say ("GPU: <need>, which it lacks")."""
        return (f"{self.package} ({name}: NVIDIA compute capability {self.cc_min / 10:.1f} and up, NVLink between "
                "every pair of a node's GPUs)")

    def fabric_refusal(self, name: str, fabric: str | None) -> str | None:
        """Why a group of this dispatcher cannot span nodes over ``fabric``, or None."""
        if fabric in self.fabrics:
            return None
        return f"the internode kernels need InfiniBand / RoCE RDMA, not {fabric}"


#: What each flex dispatcher's library needs (``DispatcherNeeds``); the all-to-all dispatcher is NCCL's
#: ``all_to_all_single`` and runs wherever the stack does (not listed).
#:
#: * ``deepep``: deepseek-ai/DeepEP README (V1, the NVSHMEM kernels Megatron-Core's ``fused_a2a.py`` calls),
#:   "Requirements": "Ampere (SM80), Hopper (SM90) GPUs, or other architectures with SM90 PTX ISA support",
#:   "NVLink for intranode communication", "RDMA network for internode communication" (its internode kernels post
#:   through NVSHMEM IBGDA, which AWS EFA does not offer: DeepEP issue #369 "DeepEP over EFA"; GCP's A3 Mega TCPXO is
#:   no RDMA). The V2 README adds "NVLink with full directed CUDA peer access between every pair of participating
#:   intranode GPUs" and shows SM100 (B200) rows.
#: * ``hybridep``: DeepEP's ``hybrid_ep`` (Hybrid-EP_Implementation.md): TMA instructions (SM90 and up; its build
#:   ``TORCH_CUDA_ARCH_LIST="9.0 10.0"``), NVLink inside a node, multi-node over ``rdma-core`` ibverbs; on EFA its
#:   ``select_net`` traps when it finds no mlx5 NIC (NVIDIA-NeMo/Megatron-Bridge issue #3343: "neither inter-node
#:   DeepEP backend supports EFA").
_RDMA = ("infiniband", "roce", None)
DISPATCHER_NEEDS = {
    "deepep": DispatcherNeeds("DeepEP", 80, _RDMA, "deepseek-ai/DeepEP README: SM80 / SM90, NVLink, RDMA (IBGDA)"),
    "hybridep": DispatcherNeeds("HybridEP", 90, _RDMA, "DeepEP Hybrid-EP_Implementation.md: TMA (SM90+), NVLink, "
                                                         "ibverbs RDMA"),
}


def dispatcher_gpu_refusal(dispatcher: str, gpu) -> str | None:
    """Why ``gpu`` cannot run token dispatcher ``dispatcher`` (``DISPATCHER_NEEDS``), or None where it can.

    >>> from types import SimpleNamespace as G
    >>> h100 = G(name="H100-SXM-80GB", vendor="NVIDIA", intra_node_link="NVLink4")
    >>> [dispatcher_gpu_refusal(d, h100) for d in ("alltoall", "deepep", "hybridep")]
    [None, None, None]
    >>> print(dispatcher_gpu_refusal("hybridep", G(name="A100-SXM-80GB", vendor="NVIDIA", intra_node_link="NVLink3")))
    HybridEP (hybridep) needs an NVIDIA GPU of compute capability 9.0 or up; A100-SXM-80GB is 8.0
    """
    needs = DISPATCHER_NEEDS.get(dispatcher)
    return needs.gpu_refusal(dispatcher, gpu) if needs is not None else None


def dispatcher_local_only(dispatcher: str, fabric: str | None) -> str | None:
    """Why ``dispatcher``'s group must stay inside one node on a cluster of ``fabric`` (None where it may span
    nodes): the flex dispatchers' internode kernels need InfiniBand / RoCE RDMA (``DISPATCHER_NEEDS``)."""
    needs = DISPATCHER_NEEDS.get(dispatcher)
    return needs.fabric_refusal(dispatcher, fabric) if needs is not None else None


def dispatcher_spans_nodes(etp, ep, gpus_per_node):
    """Whether a dispatcher's group, the experts' TP x EP ranks (consecutive: Megatron-Core's expert grid,
    ``ProcessGroupCollection`` ``expt_tp`` x ``ep``), leaves the node (scalars or arrays of a layout's columns)."""
    return etp * ep > gpus_per_node


def fabric_words(hw) -> str:
    """Where hardware option ``hw``'s fabric comes from where the job did not state it: a bare GPU cluster without
    ``cluster.inter_node_gbps`` or ``cluster.fabric`` takes its reference row's network (planner.hardware.options
    ``reference_network``), and with it that row's fabric; the job states its own cluster's network with
    ``cluster.inter_node_gbps``, whose fabric ``DISPATCHER_NEEDS`` takes as RDMA (None), or with ``cluster.fabric``, a
    catalog link or its figures, whose family it reads (``stated_fabric``). "" where the fabric is the instance's own
    or the job's."""
    if not getattr(hw, "network_reference", False):
        return ""
    return (f"{hw.name}'s network assumed from {hw.reference.key}; state yours with cluster.inter_node_gbps or "
            "cluster.fabric")


def dispatcher_refusal(dispatcher: str, hw, etp: int = 1, ep: int = 1) -> str | None:
    """Why hardware option ``hw`` cannot run token dispatcher ``dispatcher`` on a layout of expert TP ``etp`` and EP
    ``ep`` (``DISPATCHER_NEEDS``): its GPU (any layout), or its fabric where the group spans nodes
    (``dispatcher_spans_nodes``; the fabric's source: ``fabric_words``); None where it runs. ``estimate`` /
    ``simulate`` refuse a job that names such a dispatcher with it; the search keeps it off that hardware."""
    why = dispatcher_gpu_refusal(dispatcher, hw.gpu)
    if why or not dispatcher_spans_nodes(etp, ep, hw.gpus_per_node):
        return why
    span = dispatcher_local_only(dispatcher, hw.network_fabric)
    if span is None:
        return None
    assumed = fabric_words(hw)
    return (f"{dispatcher}'s group (expert TP {etp} x EP {ep}) spans nodes of {hw.gpus_per_node} GPUs; {span}"
            + (f" ({assumed})" if assumed else "") + ": keep expert TP x EP in a node or use alltoall")

#: Bytes per (token, expert) of the routing map a dispatcher all-gathers over the EP group before the
#: first dispatch of a layer's forward: HybridEP builds every rank's dispatch metadata from the whole group's
#: routing map. Megatron-Core's ``_HybridEPManager.dispatch`` hands the ``[num_tokens, num_experts]``
#: torch.bool ``routing_map`` to ``hybrid_ep_dispatch`` (megatron/core/transformer/moe/token_dispatcher.py,
#: fused_a2a.py ``HybridEPDispatch``), and ``HybridEPBuffer.dispatch_with_permute`` without a handle runs
#: ``torch.distributed.all_gather_into_tensor(global_routing_map, routing_map, group)`` into a
#: ``[num_tokens * group_size, num_experts]`` bool tensor, then its metadata-preprocessing kernel on it
#: (deepseek-ai/DeepEP hybrid-ep deep_ep/hybrid_ep_buffer.py; docs/Hybrid-EP_Implementation.md §5:
#: ``metadata_preprocess`` = "Allgather + metadata kernel"). The backward's dispatch and combine reuse the
#: forward's handle (fused_a2a.py ``HybridEPDispatch.backward`` / ``HybridEPCombine.backward``): once per
#: layer forward. The all-to-all dispatcher gathers only its per-expert token counts (``preprocess``:
#: ``gather_from_sequence_parallel_region(num_local_tokens_per_expert, group=self.tp_ep_group)``, E int64 per
#: rank) and DeepEP's ``get_dispatch_layout`` works on the rank's own top-k indices: 0 here.
ROUTING_MAP_GATHER_BYTES = {"alltoall": 0.0, "deepep": 0.0, "hybridep": 1.0}
#: Bytes per expert of the NVLink domain that a dispatcher's forward dispatch (and backward combine, the
#: probabilities' gradient) carries with every token row it moves: HybridEP stages a float32 probability row
#: of ``NUM_OF_EXPERTS_PER_RANK * NUM_OF_RANKS_PER_NODE`` per token beside its hidden row (deepseek-ai/DeepEP
#: csrc/hybrid_ep/backend/hybrid_ep_backend.cuh ``intra_node_prob_buffer[NUM_OF_STAGES][NUM_OF_EXPERTS_PER_RANK
#: * NUM_OF_RANKS_PER_NODE]``, "Only used in FW dispatch"; docs/Hybrid-EP_Implementation.md §4.2: ``prob_buffer``
#: = max_tokens x (num_of_experts_per_rank x num_of_ranks_per_node) x sizeof(float), beside ``token_buffer`` =
#: max_tokens x hidden_dim x sizeof(dtype); the RDMA buffers the same per token). The all-to-all dispatcher sends
#: one probability per (token, expert) row and DeepEP its k top-k weights: negligible, 0.
PROB_ROW_BYTES_PER_EXPERT = {"alltoall": 0.0, "deepep": 0.0, "hybridep": 4.0}

#: Host ops the GPU waits for after the dispatcher's device-to-host sync, per MoE layer forward.
#: A dropless dispatch sizes its all-to-all from the token counts per expert, which the host must
#: read: Megatron-Core ``MoEAlltoAllTokenDispatcher`` copies ``num_out_tokens`` /
#: ``num_global_tokens_per_local_expert`` ``.to("cpu")`` and synchronises at its
#: ``cuda_sync_point`` ("before_ep_alltoall" for dropless; "no_sync" when ``drop_and_pad`` makes
#: every shape static) in megatron/core/transformer/moe/token_dispatcher.py
#: ``_maybe_dtoh_and_synchronize``; DeepEP's normal-mode ``Buffer.dispatch`` has the CPU wait for
#: the received-token count to allocate its output (deepseek-ai/DeepEP README, "CPU-GPU
#: synchronization"). The sync drains the CUDA queue: the host's run-ahead is gone, and the GPU
#: sits idle for the copy's round trip and the launch of the all-to-all that follows it — two host
#: ops at ``Efficiency.launch_s`` (the copy + wake, the all-to-all launch). From the all-to-all on,
#: the GPU has ms of work queued again, so the rest of the layer is the usual max(host, GPU).
#: The backward reuses the forward's split sizes (no sync); a recomputed forward syncs again.
MOE_SYNC_OPS = 2.0
#: Of the MoE block's forward host ops (``MOE_HOST_OPS_GROUPED``), the ones the host dispatches after the routed
#: experts: the combine all-to-all and the unpermute (Megatron-Core ``MoELayer.forward``: dispatch, experts, then
#: ``token_dispatcher.token_combine``; the combine reads the experts' output, so it is launched after their GEMMs).
#: ``post_sync_exposed_s`` counts the combine's GPU time from the host's last expert launch on.
COMBINE_HOST_OPS = 2.0


#: HBM bytes per routed row of the eager ops Megatron-Core's TEGroupedMLP runs around the grouped
#: GEMMs for gpt-oss-style experts (16-bit activations: bf16 also in the fp8 recipes), per element of
#: the expert width f ("clamp") or of the hidden size h ("bias"), as (forward, backward):
#:
#: * ``clamp``: a clamped GLU (gpt-oss ``swiglu_limit``; Megatron-Bridge GPTOSSBridge sets
#:   ``activation_func_clamp_value = 7.0``, ``glu_linear_offset = 1.0``, ``bias_activation_fusion``):
#:   TEGroupedMLP.bias_act_func calls fused_bias_geglu.weighted_bias_quick_geglu_impl
#:   (Megatron-LM megatron/core/fusions/fused_bias_geglu.py @1fb2a0ca; the same chain in the
#:   earlier version with the limit hard-coded, @034fd2d3), which clamps *outside* the fused
#:   function: ``input.chunk(2)`` (views), ``x_glu.clamp(max=7)`` and ``x_linear.clamp(-7, 7)``
#:   (each reads and writes f elements: 4 + 4 bytes), ``torch.cat`` (reads and writes 2f: 8); only
#:   then the jit-fused weighted quick-GEGLU, the activation the layer already charges. Forward 16.
#:   Backward (autograd, PyTorch FunctionsManual.cpp ``clamp_backward``): the max-only clamp
#:   ``where(self <= max, grad, 0)`` = mask (2 read, 1 written) + where (1 + 2 read, 2 written) = 8;
#:   the two-sided one ``where((self >= min).logical_and_(self <= max), grad, 0)`` = 3 + 3 + 3 + 5
#:   = 14; the chunk's backward concatenates the two gradients (4 read, 4 written) = 8: 30.
#: * ``bias``: linear_fc2 is built with ``skip_bias_add=True`` and its bias is added after the GEMM,
#:   weighted by each row's routing probability, in a Python loop over the local experts
#:   (experts.py TEGroupedMLP._apply_bias: ``torch.cat([t + b * p for t, b, p in zip(split rows,
#:   biases, split probs)])``, then ``.to(dtype)``; probs in the activation dtype, the gpt-oss
#:   recipes leave ``moe_router_dtype`` unset): ``b * p`` writes h elements (2), ``t + b*p`` reads 2h
#:   and writes h (6), the cat reads and writes h (4): forward 12. Backward: MulBackward
#:   materialises grad * p and grad * b and reduces each to the bias / prob shape (2 + 2 + 2 each:
#:   12), the split's backward concatenates the row gradients (4): 16.
#:   (linear_fc1's bias is added inside TE GroupedLinear's GEMM epilogue, skip_bias_add=False: free.)
#:
#: Under the DeepEP dispatcher the routing probabilities reach the experts in fp32 whatever the router's dtype
#: (``FP32_PROBS_DISPATCHERS``), so the same fc2 loop runs in fp32 (auto55; counted on real torch ops,
#: tests/test_auto55.py):
#:
#: * ``bias_fp32_probs``: ``b * p`` (bf16 bias x fp32 probability) writes an fp32 row (4), ``t + b*p`` reads the bf16
#:   and the fp32 rows and writes fp32 (10), the cat reads and writes fp32 (8), ``.to(dtype)`` reads fp32 and writes
#:   16-bit (6): forward 28. Backward: the cast's gradient up to fp32 (6), the add's gradient to ``t`` cast down (6),
#:   MulBackward's grad x p and its reduction to the bias (12), grad x b and its reduction to the probability (12), the
#:   split's concatenation of the row gradients (4): 40.
#: * ``bias_fp32_probs_fixed``: the same where the probabilities carry no gradient (a gate without parameters,
#:   ``GATELESS_ROUTINGS``: NeMo AutoModel's ``FakeBalancedGate``): backward 28.
#: * ``fc1_bias``: NeMo AutoModel's ``GroupedExpertsDeepEP`` adds fc1's bias after the grouped GEMM in the same loop
#:   without probabilities (``_apply_bias(output1, gate_and_up_bias, tokens_per_expert)``), per element of the 2f-wide
#:   fc1 output: ``t + b`` (4) and the cat (4): forward 8; backward the bias reduction (2) and the split's
#:   concatenation (4): 6.
EAGER_EXPERT_BYTES = {"clamp": (16.0, 30.0), "bias": (12.0, 16.0), "bias_fp32_probs": (28.0, 40.0),
                      "bias_fp32_probs_fixed": (28.0, 28.0), "fc1_bias": (8.0, 6.0)}
#: host ops of the same eager ops per MoE layer forward: the clamp chain's chunk, two clamps, cat and
#: the offset tensor (5); the bias loop's two splits, cat, view and cast (5) plus a multiply and an
#: add per local expert; the fc1 loop's split, cat and view (3) plus an add per local expert
EAGER_EXPERT_HOST_OPS = {"clamp": 5.0, "bias": 5.0, "bias_per_expert": 2.0, "fc1_bias": 3.0,
                         "fc1_bias_per_expert": 1.0}
#: the dispatchers that hand the experts their routing probabilities in fp32: Megatron-Core's DeepEP manager casts
#: them up before ``buffer.dispatch`` ("DeepEP only supports float32 probs", megatron/core/transformer/moe/
#: token_dispatcher.py ``_DeepepManager.dispatch``; NeMo AutoModel's vendored copy, components/moe/megatron/
#: token_dispatcher.py, does the same and asserts fp32 before the permute), and the permute keeps their dtype
FP32_PROBS_DISPATCHERS = frozenset({"deepep"})


@dataclass(frozen=True)
class ExpertEagerForm:
    """Which eager ops a stack's grouped-GEMM experts run around the GEMMs (``Stack.moe_expert_eager``):
    ``clamp`` the clamped GLU's eager clamp chain and its offset tensor's sync (else the clamp runs inside the
    activation kernel); ``fc1_bias`` fc1's bias added by an eager loop (else in the GEMM's epilogue); fc2's bias is
    always the eager probability-weighted loop; ``dispatchers`` the token dispatchers under which the stack runs these
    experts at all (None: every one); ``source`` the code read."""
    clamp: bool
    fc1_bias: bool
    dispatchers: frozenset | None
    source: str


EXPERT_EAGER_FORMS = {
    "megatron": ExpertEagerForm(True, False, None, "Megatron-Core moe/experts.py TEGroupedMLP (bias_act_func, "
                                                   "_apply_bias); fc1's bias in TE GroupedLinear's epilogue"),
    # auto55: nemo_automodel/components/moe/layers.py ``GroupedExpertsDeepEP.forward`` (the MoEArgs through the
    # MoEConfig versions): ``ops.gmm``, ``_apply_bias(output1, gate_and_up_bias, tokens_per_expert)``, the
    # ``@torch.compile``'d ``quick_geglu_deepep`` (clamps inside; ``linear_offset`` a Python float, no tensor built),
    # ``ops.gmm``, ``_apply_bias(output2, down_bias, tokens_per_expert, permuted_probs)``; only on the DeepEP path
    # (``enable_deepep``), its all-to-all ``GroupedExperts`` compiling the biases and activation with the matmuls
    "automodel": ExpertEagerForm(False, True, frozenset({"deepep"}),
                                 "NeMo AutoModel components/moe/layers.py GroupedExpertsDeepEP"),
}



@dataclass(frozen=True)
class HfTpPlan:
    """Which parts of a layer a transformers ``base_model_tp_plan`` splits over TP. transformers 5.23.0 applies it at
    TP > 1 whatever the EP (distributed/mixin.py ``_resolve_parallel_plans``: at EP > 1 the ``base_model_ep_plan``
    takes the routed experts and "EP rules take precedence: drop TP rules on EP modules and their children"; every
    other module keeps its TP rule). ``attention``: q/k/v ``colwise`` and o ``rowwise`` (its all-reduce);
    ``dense_mlp``: the dense MLP's gate/up ``colwise``, down ``rowwise``; ``source``: the file; ``lm_head``: the
    ``*ForCausalLM`` class's ``_tp_plan`` (lm_head ``colwise_gather_output``, every family here); ``embedding``:
    ``embed_tokens`` ``embedding_rowwise``, which ``DistributedMixin.init_parallel_plans`` adds only where the base
    model's plan is not empty; ``moe``: the routed experts split by TP (``packed_colwise`` / ``rowwise`` /
    ``moe_tp_experts``) at EP 1; ``shared_experts``: the shared experts' gate/up ``colwise``, down ``rowwise``
    (Qwen2-MoE's plan names no ``shared_expert`` module: whole on every TP rank, its output added after the routed
    experts' all-reduce, so it adds no all-reduce of its own)."""
    attention: bool
    dense_mlp: bool
    source: str
    lm_head: bool = True
    moe: bool = True
    embedding: bool = True
    shared_experts: bool = True


#: the families with a ``base_model_ep_plan`` at transformers 5.23.0 (models/<family>/configuration_<family>.py),
#: each ``layers.*.mlp.experts.gate_up_proj`` / ``down_proj`` ``grouped_gemm`` (``MoEParamShard(Shard(0))``: ``E / ep``
#: whole experts a rank; gpt-oss's expert biases too) and ``layers.*.mlp.experts`` ``ep_dispatch_experts`` -- the
#: routed experts and nothing else (no router, attention, norm, dense or shared-expert entry; ``ep_router`` and
#: ``moe_tp_experts`` are refused in an EP plan). What is not an expert runs its TP plan (``HfTpPlan``). Until hfep52
#: read at an older revision (the EP plan alone under EP, ``ep_router`` + ``moe_tp_experts``, EP = TP)
HF_EP_PLANS: dict[str, str] = {f: f"models/{f}/configuration_{f}.py (base_model_ep_plan: experts grouped_gemm, "
                                  "ep_dispatch_experts)"
                               for f in ("qwen3_moe", "qwen2_moe", "mixtral", "gpt_oss", "deepseek_v2", "deepseek_v3")}

#: HF MoE families whose configuration has no ``base_model_ep_plan`` at the pinned transformers (5.23.0, pyproject's
#: ``truth`` extra): models/llama4/configuration_llama4.py ``Llama4TextConfig`` -- "No ``base_model_ep_plan``: the
#: experts take every token pre-scaled by its router score rather than the routing, so there is nothing to dispatch.
#: They shard with the tensor-parallel plan above" (experts ``packed_rowwise`` / ``colwise`` / ``moe_tp_experts``).
#: Its ``from_pretrained`` at ``ep_size`` > 1 raises (distributed/mixin.py ``_resolve_parallel_plans``: "`ep_size=N`
#: was requested, but `Llama4ForCausalLM` has no `ep_plan`"), so EP > 1 is refused on the stacks that run
#: transformers' plans (rule ``hf-no-ep-plan``). Until hfmoe52 ``HF_EP_PLANS`` held a Llama 4 plan read from another
#: revision (attention and the dense MLP split, router ``ep_router``, experts ``grouped_gemm``) and priced EP 2-16
HF_NO_EP_PLAN = frozenset({"llama4_text"})


#: the config.json ``model_type`` values DeepSpeed's AutoEP has a preset for (deepspeed/module_inject/auto_ep_presets/
#: registry.py ``PRESET_MODELS``, each preset's ``hf_model_types``: mixtral.py, qwen3_moe.py ("qwen3_moe", "qwen2_moe"),
#: qwen3_5_moe.py ("qwen3_5_moe_text"), deepseek_v2.py, deepseek_v3.py, llama4.py ("llama4", "llama4_text")). Any other
#: model type (gpt_oss: its MoE block's router child is ``router``, the presets' ``mlp`` pattern looks for ``gate``)
#: matches no preset: ``AutoEP.ep_parser`` replaces nothing and logs "AutoEP: no MoE layers detected in model", so the
#: run has no expert parallelism (rule ``ds-autoep-preset``)
AUTOEP_MODEL_TYPES = frozenset({"mixtral", "qwen3_moe", "qwen2_moe", "qwen3_5_moe_text", "deepseek_v2", "deepseek_v3",
                                "llama4", "llama4_text"})


#: the ``base_model_tp_plan`` of an HF MoE family where it leaves a part whole (at any EP: ``HfTpPlan``); a family
#: absent here has its attention, dense MLP, embedding, head and experts split over TP (transformers 5.23.0
#: models/qwen3_moe, qwen2_moe, mixtral: q/k/v ``colwise``, o ``rowwise``; deepseek_v2's q_proj / q_b_proj /
#: kv_b_proj ``colwise``, kv_a_proj_with_mqa ``mla_kv_a_proj``, o_proj ``rowwise``). DeepSeek-V3's plan (experts
#: ``packed_colwise`` / ``rowwise`` / ``moe_tp_experts``, shared experts and the dense MLP ``colwise`` / ``rowwise``)
#: names no ``self_attn`` module: MLA is whole on every TP rank, runs the whole micro-batch there and has no
#: all-reduce (until dsep35 priced split over TP). gpt-oss's configuration defines no ``base_model_tp_plan``
#: (models/gpt_oss/configuration_gpt_oss.py: ``base_model_ep_plan`` only): its TP splits the LM head alone
#: (modeling_gpt_oss.py ``GptOssForCausalLM._tp_plan``), the embedding whole (no base plan to add
#: ``embedding_rowwise`` to); until hfep52 priced as its EP plan (attention, embedding and head whole). Qwen2-MoE's
#: plan (models/qwen2_moe/configuration_qwen2_moe.py) splits attention, experts and ``layers.*.mlp.gate_proj`` /
#: ``up_proj`` / ``down_proj`` -- which match a dense layer's MLP, not ``layers.*.mlp.shared_expert.*`` -- so its
#: shared expert (and ``shared_expert_gate``) runs whole on every TP rank (recorded: tests/data/hf_ep_plans.json
#: ``qwen2_moe``); until qa105 priced split over TP
HF_TP_PLANS: dict[str, HfTpPlan] = {
    "qwen2_moe": HfTpPlan(True, True, "models/qwen2_moe/configuration_qwen2_moe.py (base_model_tp_plan: "
                                      "no shared_expert entry)", shared_experts=False),
    "deepseek_v3": HfTpPlan(False, True, "models/deepseek_v3/configuration_deepseek_v3.py (base_model_tp_plan: "
                                         "no self_attn entry)"),
    "gpt_oss": HfTpPlan(False, False, "models/gpt_oss/configuration_gpt_oss.py (no base_model_tp_plan: "
                                      "GptOssForCausalLM._tp_plan lm_head only)", moe=False, embedding=False,
                          shared_experts=False),
}


#: HF MoE families whose TP plan splits none of their layers (``HfTpPlan.moe`` False and nothing else split: gpt-oss,
#: its head alone): TP > 1 without EP would hold and run every layer whole on every rank, so it is refused (rule
#: ``hf-no-tp-plan``); with EP the experts are split over EP
HF_NO_TP_PLAN = frozenset(f for f, p in HF_TP_PLANS.items()
                          if not (p.moe or p.attention or p.dense_mlp or p.shared_experts))


def hf_tp_plan(m, stack) -> HfTpPlan | None:
    """The transformers TP plan ``m`` runs under where ``stack`` runs transformers' own plans (``Stack.hf_plans``)
    and the family's plan leaves a part whole (``HF_TP_PLANS``); None otherwise."""
    if m.moe is None or not getattr(stack, "hf_plans", False):
        return None
    return HF_TP_PLANS.get(getattr(m, "hf_model_type", None) or "")


def hf_ep_tp(m, stack, tp, ep, part: str):
    """The degree ``part`` of a layer -- "attention" (its projections, core and all-reduce), "dense_mlp" (the dense
    layers of an MoE model), "shared_experts" (an MoE layer's shared experts) or "lm_head" (the logits GEMM and
    loss) -- is split over per candidate: 1 where the model's transformers TP plan leaves it whole (``HF_TP_PLANS``:
    DeepSeek-V3's attention, gpt-oss's, Qwen2-MoE's shared expert), else ``tp``,
    at every EP (transformers 5.23 keeps the TP plan on all but the experts under EP)."""
    tplan = hf_tp_plan(m, stack)
    if tplan is None or getattr(tplan, part):
        return tp
    return np.ones(np.broadcast(np.asarray(tp), np.asarray(ep)).shape)


def hf_replicated_params(m, attention_split: bool = True) -> tuple[float, float]:
    """(dense layer, MoE layer) parameters no transformers 5.23 TP plan names, whole on every TP rank (read in each
    ``base_model_tp_plan`` of ``HF_EP_PLANS``' families: qwen3_moe, qwen2_moe, mixtral, deepseek_v2, deepseek_v3 list
    attention, experts, shared experts and dense MLPs; gpt-oss has none): the layer's norms (``input_layernorm``,
    ``post_attention_layernorm``), with a split attention its q / k norms (qwen3_moe's ``q_norm`` / ``k_norm``:
    ``replicated_with_grad_allreduce``, whole weights), and an MoE layer's router (``mlp.gate``: E x h, its bias or
    score-correction bias; ``router_params``: none under a weightless gate). ``attention_split`` False: the attention
    is whole already (``attention_params`` holds its norms)."""
    qk = {"none": 0, "head": 2 * m.head_dim}.get(m.qk_norm, 0) if attention_split else 0
    dense = float(m.layer_norms * norm_params(m) + qk)
    e = m.moe
    if e is None:  # a dense model (DeepSpeed's AutoTP): no MoE layer
        return dense, dense
    return dense, dense + float(router_params(m))


def autotp_stack(stack) -> bool:
    """Whether ``stack``'s tensor parallelism is DeepSpeed's AutoTP (``Stack.tp_splits_experts`` False: it swaps
    ``nn.Linear`` modules only, deepspeed/module_inject/auto_tp.py ``AutoTP.tp_parser``), on a dense model as on an
    MoE one: every norm stays whole on each TP rank."""
    return not getattr(stack, "tp_splits_experts", True)


def replicates_norms(m, stack) -> bool:
    """Whether ``m``'s norms (and an MoE model's routers) are whole on every TP rank of ``stack``
    (``hf_replicated_params``):

    * DeepSpeed's AutoTP (``autotp_stack``), a dense model as an MoE one: it swaps ``nn.Linear`` modules only
      (deepspeed/module_inject/auto_tp.py ``AutoTP.tp_parser`` / ``get_layers``, ``isinstance(submodule,
      nn.Linear)``) -- transformers 5.23's ``*TopKRouter`` holds its weight as an ``nn.Parameter`` and the norms are
      ``*RMSNorm`` modules -- while AutoEP's own router (``AutoEPMoELayer.router``, an ``nn.Linear`` gate) sits in a
      block AutoTP skips (``_is_autoep_layer``) and runs whole on every TP peer
      (``mark_autoep_folding_router_parameter``). Until autoep53 an MoE model's were priced over TP on the deepspeed
      stack, until autoep53b a dense model's norms.
    * transformers' TP plans (``Stack.hf_plans``), an MoE model: the plans name neither routers nor norms (hfmoe53).
      Its dense TP plans are left as they were priced.

    A generic model (ResNet-50: the job's own params + FLOPs) has no layer norms to count."""
    if not m.is_transformer:
        return False
    return autotp_stack(stack) or (m.moe is not None and bool(getattr(stack, "hf_plans", False)))


def hf_layer_whole_params(m, stack, tp, ep, pp=1):
    """(dense layer, MoE layer) parameters a rank of the HF code holds whole, per candidate -- the rest of a layer
    split over TP, its routed experts over EP -- under transformers' TP plans (``Stack.hf_plans``, an MoE model, TP >
    1, at every EP; DeepSpeed's AutoTP too, ``replicates_norms``): the routers and norms no plan names
    (``hf_replicated_params``; until hfmoe53 over TP, on DeepSpeed until autoep53), and where
    the family's plan leaves a part whole (``HF_TP_PLANS``) the attention unless ``HfTpPlan.attention``, a dense
    layer's MLP unless ``HfTpPlan.dense_mlp``, an MoE layer's shared experts and their gate unless
    ``HfTpPlan.shared_experts``; 0 elsewhere and with pipeline stages (rule ``hf-pp``)."""
    tp, ep, pp = np.asarray(tp), np.asarray(ep), np.asarray(pp)
    shape = np.broadcast(tp, ep, pp).shape
    if not replicates_norms(m, stack):
        return np.zeros(shape), np.zeros(shape)
    on = (tp > 1) & (pp == 1) & np.ones(shape, dtype=bool)
    tplan = hf_tp_plan(m, stack)
    rep_dense, rep_moe = hf_replicated_params(m, tplan is None or tplan.attention)
    if tplan is None:
        return np.where(on, rep_dense, 0.0), np.where(on, rep_moe, 0.0)
    attn = 0.0 if tplan.attention else float(attention_params(m))
    dense_mlp = 0.0 if tplan.dense_mlp or m.dense_width is None else float(mlp_params(m, m.dense_width))
    e = m.moe
    shared = 0.0 if tplan.shared_experts or not e.shared_experts else float(
        mlp_params(m, shared_expert_width(m)) + (m.hidden if e.shared_expert_gate else 0))
    return np.where(on, attn + dense_mlp + rep_dense, 0.0), np.where(on, attn + shared + rep_moe, 0.0)


def hf_ep_whole_params(m, stack, tp, ep, pp=1):
    """Parameters every rank of a TP group holds whole under the model's transformers TP plan (``HF_TP_PLANS``), per
    candidate, at every EP (transformers 5.23 distributed/mixin.py ``_resolve_parallel_plans``: the EP plan takes the
    routed experts only, ``E / ep`` whole experts a rank; every other module keeps its TP rule): the parts
    ``hf_layer_whole_params`` counts (the routers and norms under every plan), the final norm, and the embedding where
    the plan has no ``embedding_rowwise`` (``HfTpPlan.embedding``: gpt-oss) or the stack's torch DTensor plan leaves it
    replicated (``Stack.tp_embedding_replicated``: KempnerForge, kf56); 0 off those plans, at TP 1 or with
    pipeline stages (rule ``hf-pp``). Until hfep52 the older revision's EP plan was priced: the attention, embedding, head, norms, routers
    and shared experts whole at EP > 1 (Qwen3-30B-A3B: 1.54B of its 30.53B; now 0)."""
    pc = count_params(m)
    dense, moe = hf_layer_whole_params(m, stack, tp, ep, pp)
    tplan = hf_tp_plan(m, stack)
    # a torch DTensor plan that leaves the token embedding out (``Stack.tp_embedding_replicated``: KempnerForge) too
    whole_embedding = (tplan is not None and not tplan.embedding) or getattr(stack, "tp_embedding_replicated", False)
    ends = float(pc.embedding) if whole_embedding else 0.0
    if replicates_norms(m, stack):
        ends += float(pc.final_norm)  # ``model.norm``: in no plan, no nn.Linear (hf_replicated_params)
    return (pc.n_moe_layers * moe + pc.n_dense_layers * dense
            + np.where((np.asarray(tp) > 1) & (np.asarray(pp) == 1), ends, 0.0))


def hf_ep_plan_note(m, stack, ep: int, tp: int = 1) -> str:
    """What the HF-code parallel plans do to the model, for the stack's ``assumed:`` line: at ``ep`` > 1 the folded
    dispatch (``Stack.moe_ep_tp_fold``: DeepSpeed's AutoEP, or transformers' ``AllToAllEP`` under ``Stack.hf_plans``)
    and, at TP > 1, a TP plan that leaves a part whole (``HF_TP_PLANS``); empty where not an HF-code stack, not MoE or
    neither applies."""
    if m.moe is None:
        return ""
    note = ""
    hf = getattr(stack, "hf_plans", False)
    if ep > 1 and getattr(stack, "moe_ep_tp_fold", False):
        who = (f"transformers' ep_dispatch_experts (ep_size {ep}, base_model_ep_plan; trained through AllToAllEP)"
               if hf else f"DeepSpeed's AutoEP (expert_parallel.autoep_size {ep}; its own grouped experts kernel, "
               "torch._grouped_mm or a Triton grouped GEMM below SM90, whatever experts_implementation says)")
        how = ("each TP peer keeping 1/{tp} of the shared batch's rows and all-gathering the combined ones "
               "(distributed/expert_parallel.py)" if hf else
               "the TP{tp} peers each dispatching 1/{tp} of the micro-batch's rows and all-gathering the combined "
               "ones (module_inject/auto_ep_layer.py)").format(tp=tp)
        note = (f"; expert parallelism is {who}: each rank holds {m.moe.experts // ep} of {m.moe.experts} whole "
                "experts and its routed rows go out and back by all-to-all" + (f", {how}" if tp > 1 else ""))
    tplan = hf_tp_plan(m, stack)
    if tplan is not None and tp > 1:
        whole = [w for w, split in (("attention", tplan.attention), ("the dense MLP", tplan.dense_mlp),
                                    ("the shared experts", tplan.shared_experts or not m.moe.shared_experts),
                                    ("embedding", tplan.embedding)) if not split]
        if whole:
            note += (f"; transformers' {m.hf_model_type} TP plan ({tplan.source.split(' (')[0]}) leaves "
                     f"{' and '.join(whole)} whole on every TP rank (weights, GEMMs and saves priced whole, no "
                     "all-reduce)")
    return note


@dataclass(frozen=True)
class EagerExpertOps:
    """One MoE layer's eager expert ops on one rank (``EAGER_EXPERT_BYTES``), per micro-batch."""

    fwd_bytes: Any = 0.0  # HBM bytes of the forward
    bwd_bytes: Any = 0.0  # HBM bytes of the backward
    act_fwd_bytes: Any = 0.0  # the part inside the activation (what ``moe_act`` recompute re-runs)
    host_ops: Any = 0.0  # host ops of the forward
    syncs: Any = 0.0  # stream synchronisations per forward of the activation


def fc2_bias_key(dispatcher: str, gateless: bool) -> str:
    """The ``EAGER_EXPERT_BYTES`` key of fc2's probability-weighted bias loop: fp32 where the dispatcher hands the
    experts fp32 probabilities (``FP32_PROBS_DISPATCHERS``), without their gradient under a gate with no parameters;
    else the activation dtype's."""
    if dispatcher in FP32_PROBS_DISPATCHERS:
        return "bias_fp32_probs_fixed" if gateless else "bias_fp32_probs"
    return "bias"


def eager_expert_ops(m, stack, rows, f_rank, local, disp=None) -> EagerExpertOps:
    """The eager ops a grouped-GEMM experts module (``moe_grouped_gemm`` stacks, unless the grouped MLP
    runs fused: ``Stack.moe_fused_mlp``) adds around its GEMMs for a clamped GLU (``ModelSpec.glu_clamp``) and for
    expert biases (``linear_bias``), in the stack's form (``EXPERT_EAGER_FORMS[Stack.moe_expert_eager]``) under each
    key's dispatcher (``disp``, ``per_dispatcher``): ``EAGER_EXPERT_BYTES`` over ``rows`` routed rows of ``f_rank``
    (clamp; fc1's bias, 2 ``f_rank`` wide) or ``m.hidden`` (fc2's bias) elements. Megatron-Core's clamped path also
    builds its GLU offset with ``torch.tensor(linear_offset, device=input.device)`` on every call: a pageable
    host-to-device copy with ``non_blocking=False``, which PyTorch runs as cudaMemcpyAsync + cudaStreamSynchronize
    (aten/src/ATen/native/cuda/Copy.cu ``copy_kernel_cuda`` -> ``memcpy_and_sync``): one stream sync
    per activation call, priced like the dispatcher's (``MOE_SYNC_OPS``)."""
    if not stack.moe_grouped_gemm or getattr(stack, "moe_fused_mlp", False):
        return EagerExpertOps()
    form = EXPERT_EAGER_FORMS[getattr(stack, "moe_expert_eager", "megatron")]
    rows = np.asarray(rows, dtype=np.float64)
    gateless = m.moe is not None and m.moe.routing in GATELESS_ROUTINGS

    def terms(d: str) -> tuple:
        fwd = bwd = act = host = syncs = 0.0
        if form.dispatchers is not None and d not in form.dispatchers:
            return fwd, bwd, act, host, syncs
        if form.clamp and m.glu_clamp is not None and m.gated:
            cf, cb = EAGER_EXPERT_BYTES["clamp"]
            act = rows * f_rank * cf
            fwd, bwd = fwd + act, bwd + rows * f_rank * cb
            host, syncs = host + EAGER_EXPERT_HOST_OPS["clamp"], 1.0
        if m.linear_bias:
            bf, bb = EAGER_EXPERT_BYTES[fc2_bias_key(d, gateless)]
            fwd, bwd = fwd + rows * m.hidden * bf, bwd + rows * m.hidden * bb
            host = host + EAGER_EXPERT_HOST_OPS["bias"] + EAGER_EXPERT_HOST_OPS["bias_per_expert"] * np.asarray(local)
            if form.fc1_bias:
                width = (2.0 if m.gated else 1.0) * f_rank
                ff, fb = EAGER_EXPERT_BYTES["fc1_bias"]
                fwd, bwd = fwd + rows * width * ff, bwd + rows * width * fb
                host = (host + EAGER_EXPERT_HOST_OPS["fc1_bias"]
                        + EAGER_EXPERT_HOST_OPS["fc1_bias_per_expert"] * np.asarray(local))
        return fwd, bwd, act, host, syncs

    fwd, bwd, act, host, syncs = per_dispatcher(stack, disp, terms)
    return EagerExpertOps(fwd_bytes=fwd, bwd_bytes=bwd, act_fwd_bytes=act, host_ops=host, syncs=syncs)


#: What Transformer Engine's fused grouped MLP (``Stack.moe_fused_mlp``: Megatron-Bridge
#: ``cutedsl_fused_grouped_mlp`` -> ``use_transformer_engine_op_fuser``, ``NVTE_CUTEDSL_FUSED_GROUPED_MLP=1``)
#: takes out of the experts' memory-bound traffic, per element, for the low-precision recipes it fuses.
#: TE's op fuser replaces GroupedLinear + ScaledSwiGLU (or ScaledClampedQGeGLU) + GroupedLinear with the
#: cuDNN-frontend CuTe DSL kernels on SM100-class GPUs for MXFP8 (and NVFP4) only
#: (NVIDIA/TransformerEngine transformer_engine/pytorch/ops/fused/forward_grouped_mlp.py
#: ``ForwardGroupedMLP_CuTeGEMMSwiGLU_MXFP8``, backward_grouped_mlp.py ``BackwardGroupedMLP_CuTeGEMMDSwiGLU_MXFP8``,
#: later merged into ops/fused/grouped_mlp.py; ops/_common.py ``fuse_grouped_mlp_ops``: ``recipe.mxfp8() or
#: recipe.nvfp4()``, else the ops run unfused):
#:
#: * forward: fc1's grouped GEMM runs the GLU and the probability post-scale in its epilogue
#:   (``grouped_gemm_swiglu_wrapper_sm100``: ``c_tensor`` = fc1's 16-bit output, still written and saved
#:   for the backward; ``d_tensor`` / ``d_col_tensor`` + ``sfd_row`` / ``sfd_col`` = fc2's input, already
#:   MXFP8 in both orientations). Gone: the activation kernel (read 2f, write f: ``act`` bytes, what the
#:   layer charges for it) and the 16-bit read of fc2's input cast (``cast_reads``); the cast's fp8
#:   writes stay (the epilogue writes them).
#: * backward: fc2's dgrad GEMM runs the GLU backward, the probability gradient (``dprob``) and the MXFP8
#:   quantisation of fc1's output gradient in its epilogue (``grouped_gemm_dglu_wrapper_sm100`` with
#:   ``c_tensor`` = the saved fc1 output, ``d_row`` / ``d_col`` fp8 outputs). Gone: the activation
#:   backward (charged as ``layer_ops.BWD_MEMBOUND_FACTOR`` x the forward's) and the 16-bit read of
#:   fc1's output-gradient cast; the epilogue still reads the saved fc1 output (``up`` 16-bit elements per
#:   row), which is added back. fc2's output-gradient and fc1's input casts are unchanged (separate
#:   ``group_quantize`` / ``split_quantize`` calls in the same files).
#:
#: ``cast_reads``: of MXFP8's ``cast_bytes`` (planner.model.stack_kernels.RECIPES: one read of the 16-bit tensor for
#: both orientations, 2 + 1 + 1 + scales), the 2 B per element that read the 16-bit tensor (4 B while the cast
#: was priced as two passes, until 2026-12-04). NVFP4 is not modelled: there the backward still quantises
#: fc1's output gradient in a separate pass (grouped_mlp.py ``_group_quantize_for_grouped_mlp(fc1_dy_bf16, ...)``)
#: and the forward's amax / Hadamard path differs; it keeps the unfused bytes (conservative).
#: NVIDIA's blog "Boosting MoE Training Throughput with Advanced Fusion Kernels" (2026-06-15) names the same
#: three passes (GLU activation in the GEMM epilogue "avoiding memory round-trips", quantisation "removing a
#: separate, memory-intensive pass", the dActivation + quantize/transpose backward).
FUSED_MLP_CAST_READS = {"mxfp8": 2.0}


@dataclass(frozen=True)
class FusedMLPBytes:
    """What the fused grouped MLP (``fused_mlp_bytes``) changes in one MoE layer on one rank, per micro-batch."""

    act_fwd: Any = 0.0  # forward activation bytes no longer run as their own kernel (removed)
    bwd_epilogue: Any = 0.0  # backward bytes the fused dgrad epilogue reads (the saved fc1 output; added)
    cast_cut: float = 0.0  # bytes per element cut from fc2's input cast (fwd) and fc1's output-gradient cast (bwd)


def fused_mlp_bytes(m, stack, recipe: str | None, rows, act_bytes: float) -> FusedMLPBytes:
    """The memory-bound bytes the fused grouped MLP removes (``FUSED_MLP_CAST_READS``): with
    ``Stack.moe_fused_mlp`` under a recipe the fuser takes, the routed experts' activation pass over ``rows``
    routed rows (the layer charges it as ``mlp_act_factor`` x f elements of ``act_bytes`` per row, read
    fc1's output and write the activation: ``act_fwd``), what the fused dgrad epilogue reads instead
    (fc1's saved output, ``mlp_up_factor`` x f elements per row: ``bwd_epilogue``) and the 16-bit reads of
    the two casts that move into the epilogues (``cast_cut`` per element). Nothing otherwise."""
    if not getattr(stack, "moe_fused_mlp", False) or not stack.moe_grouped_gemm or recipe not in FUSED_MLP_CAST_READS:
        return FusedMLPBytes()
    rows = np.asarray(rows, dtype=np.float64)
    f = m.ffn_hidden
    return FusedMLPBytes(act_fwd=rows * m.mlp_act_factor * f * act_bytes, bwd_epilogue=rows * m.mlp_up_factor * f * act_bytes,
                         cast_cut=FUSED_MLP_CAST_READS[recipe])


def split_quantize_kernels(stack, recipe: str | None) -> float:
    """Kernels per local expert that each quantised tensor of the routed experts' grouped GEMMs launches
    (``LowPrecisionRecipe.split_kernels``: TE ``GroupedLinear``'s ``split_quantize`` quantises expert by expert
    under MXFP8 and per-tensor current scaling), on the stacks that run Megatron-Core's TEGroupedMLP
    (``Stack.moe_megatron_layer`` with ``moe_grouped_gemm``) unfused; ``recipe``: the low-precision recipe's name,
    None for 16-bit GEMMs (no casts). The fused grouped MLP (``Stack.moe_fused_mlp``) quantises its experts with
    TE's grouped kernels (``group_quantize``: one launch for all experts): 0 there. step_time prices each kernel at
    the GPU's ``Efficiency.kernel_gap_s`` beside the cast's bytes. Why it matters: a layer forward and backward of
    Qwen3-235B at EP 8 runs 16 local experts x 4 casts = 64 quantize kernels where the planner had priced their
    bytes as one pass each. The generic 2 us gap is the low side of what one such launch costs: ROCm
    TransformerEngine PR #598 measures per-expert MXFP8 quantize 4.0-4.7 us per expert slower than one grouped kernel
    (MI355X, Qwen3 128-expert shapes), and TE's B200 casts timed alone carry 6.7-11 us past their streaming time
    (that PR's B200 column; NVIDIA/TransformerEngine PR #3137); no NVIDIA timing of the loop inside a step was found
    (at 4.4 us: benchmarks/validate.py ``together_baselines``, moe29)."""
    if (recipe is None or not stack.moe_grouped_gemm or not getattr(stack, "moe_megatron_layer", False)
            or getattr(stack, "moe_fused_mlp", False)):
        return 0.0
    return stack.recipe.split_kernels  # the stack's recipe is the one named (step_time passes its name)


#: GPU kernels of Megatron-Core's MoE router per layer forward, by dispatcher (NVIDIA/Megatron-LM
#: docs/discussions/deepseek-v3-gb200-optimization/deepseek-v3-gb200-optimization.md @1d9edcf8, §2.1.4 and its
#: DeepEP step: "reducing the total number of kernels in the router part from 72 to 31" with ``--moe-router-fusion``
#: (TE PR #1883; the rest "separated by communication kernels of global auxiliary losses calculation" and "scattered
#: in different Python logic codes"), then "the number of kernels in the router and preprocess parts to 17" with the
#: flex dispatcher's fused preprocess; parts/moe_profiles.csv ``mlm_ds3_gb200_router_kernels_fused`` /
#: ``mlm_ds3_gb200_router_preprocess_kernels_deepep``). The all-to-all dispatcher's preprocess is not counted (31 is
#: the router alone: a lower bound there); HybridEP takes DeepEP's count (the same guide's successor, fused preprocess
#: as well). Megatron-Bridge's perf recipes set ``moe_router_fusion`` (qwen3_llm_pretrain.py
#: ``set_qwen3_specific_overrides``, the DeepSeek-V3 / Kimi K2 common configs).
MOE_ROUTER_KERNELS = {"alltoall": 31.0, "deepep": 17.0, "hybridep": 17.0}


def router_kernels(stack, disp=None) -> Any:
    """GPU kernels the router (and the flex dispatchers' preprocess) add to one MoE layer forward on Megatron-Core's
    MoE layer (``MOE_ROUTER_KERNELS``; ``Stack.moe_megatron_layer``, 0 on other stacks: no count found for them).
    Each works on [tokens, experts] tensors of a few MB, so it lasts about the GPU's per-kernel floor whatever the
    GPU is doing: step_time prices each at ``Efficiency.kernel_gap_s`` beside the layer's ``Stack.kernels_layer``,
    forward and twice backward as those. The host side of the same ops is ``MOE_HOST_OPS_GROUPED`` /
    ``MOE_GRAPH_OPS``; a captured CUDA graph removes their launches, not their GPU time. ``disp``: each key's
    dispatcher (``per_dispatcher``)."""
    if not getattr(stack, "moe_megatron_layer", False):
        return 0.0
    return per_dispatcher(stack, disp, lambda d: (MOE_ROUTER_KERNELS.get(d, 0.0),))[0]


def per_dispatcher(stack, disp, terms: Callable[[str], tuple]) -> tuple:
    """``terms(name)`` under the MoE token dispatcher each key runs: the stack's own ``moe_dispatcher`` where ``disp``
    is None, else each distinct ``vocab.MOE_DISPATCHER`` code of ``disp`` (one per layer key: a search's dispatcher
    twins in one step-time call, layout.Candidates ``dispatcher``), its terms taken at its keys. Every term is a key's
    own (elementwise over the keys), so a key gets the bits a call on its dispatcher's stack gives it."""
    codes = None if disp is None else np.unique(disp)
    if codes is None or not len(codes):  # (no keys: an empty batch)
        return terms(stack.moe_dispatcher)
    out = terms(MOE_DISPATCHER.names[int(codes[0])])
    for code in codes[1:]:
        at = disp == code
        out = tuple(np.where(at, x, o) for x, o in zip(terms(MOE_DISPATCHER.names[int(code)]), out))
    return out


def rerun_combine_skip(stack, disp, m, a2a, ep_fwd):
    """Exposed seconds of the mean layer's forward all-to-alls that a whole-layer re-run under early stop does not
    repeat: the combine where it saves nothing and ends the block (``COMBINE_UNSAVED``; not behind a LatentMoE
    up-projection), under the key's dispatcher (``per_dispatcher``). ``a2a`` one all-to-all (the combine) over the
    mean layer, ``ep_fwd`` the forward's exposed dispatch + combine after what the shared-expert stream hides
    (``shared_stream_hidden``): the re-run's lone dispatch is hidden as much or more, so it skips min(ep_fwd, a2a).
    0 without early stop (Megatron-Core's reentrant checkpoint re-runs the block whole)."""
    if not stack.recompute_early_stop or m.moe is None or m.moe.latent_size:
        return 0.0
    on = per_dispatcher(stack, disp, lambda d: (float(COMBINE_UNSAVED.get(d, False)),))[0]
    return on * np.minimum(np.maximum(ep_fwd, 0.0), a2a)


def dispatch_sync_s(stack, ragged: bool, launch_s: float) -> float:
    """GPU-idle seconds per MoE layer forward from the dispatcher's device-to-host sync
    (``MOE_SYNC_OPS``): Megatron-Core's MoE layer (the stacks with ``moe_grouped_gemm``) whenever the
    rows per expert are data-dependent (``ragged``): dropless, and also a capacity factor without
    padding, whose dropped-to-capacity counts still size the all-to-all splits on the host
    (MoEAlltoAllTokenDispatcher.preprocess moves ``input_splits`` / ``output_splits`` to the CPU
    unless ``drop_and_pad``). 0 when padded to capacity (static shapes) or on other stacks."""
    return MOE_SYNC_OPS * launch_s if (stack.moe_grouped_gemm and ragged) else 0.0


def post_sync_host_ops(host_ops, stack) -> Any:
    """Host ops of one MoE layer forward that the host dispatches *after* the dispatcher's device-to-host sync
    (``dispatch_sync_s``): the block's ops (``MoELayerTimes.host_ops``: ``MOE_HOST_OPS_GROUPED``, the grouped GEMMs'
    per-expert set-up, the eager expert ops) less the router's and the preprocess's (``MOE_GRAPH_OPS``), which run
    before it. Where the sync sits: the all-to-all dispatcher's ``cuda_sync_point`` "before_ep_alltoall" (dropless;
    ``MoEAlltoAllTokenDispatcher.dispatch_all_to_all`` -> ``_maybe_dtoh_and_synchronize``), HybridEP's
    ``dispatch_with_permute(..., non_blocking=False)`` when the manager has no ``num_permuted_tokens`` yet, i.e. on
    every forward dispatch ("If not provided, HybridEP obtains the size from a GPU tensor, which causes a D2H
    synchronization": Megatron-LM megatron/core/transformer/moe/fused_a2a.py ``hybrid_ep_dispatch``; token_dispatcher.py
    ``_HybridEPManager.combine`` resets it to None after each combine), DeepEP's normal-mode ``Buffer.dispatch``;
    after it the dispatch kernel, the grouped expert MLP (TEGroupedMLP's ``tokens_per_expert.tolist()`` m_splits)
    and the combine. 0 on stacks without Megatron-Core's MoE layer (``Stack.moe_megatron_layer``: NeMo AutoModel's
    DeepEP layer also waits for its counts, but its host ops are not these)."""
    if not getattr(stack, "moe_megatron_layer", False):
        return 0.0
    return np.maximum(np.asarray(host_ops, dtype=np.float64) - sum(MOE_GRAPH_OPS.values()), 0.0)


def post_sync_exposed_s(host_post_s, gpu_post_s, combine_host_s=0.0, combine_gpu_s=0.0):
    """GPU-idle seconds per MoE layer forward past the dispatcher's device-to-host sync: the sync drains the CUDA
    queue (``MOE_SYNC_OPS``), so from it to the next sync the host cannot run ahead. Between two syncs (one layer:
    the block past this sync, then the next layer's attention, router and preprocess up to its sync) the host
    dispatches H_post + H_pre and the GPU, starting each op no earlier than its launch, ends at
    max(H_post, G_post) + G_pre when the ops past the sync are host-paced (H_post > G_post) and those before it
    GPU-paced: the layer takes max(H, G + max(0, H_post - G_post)) where ``step_time`` had max(H, G).
    ``host_post_s`` is the host seconds of ``post_sync_host_ops``, ``gpu_post_s`` the GPU seconds of the same
    stretch (dispatch and combine all-to-alls, expert and shared-expert GEMMs, the block's memory-bound passes).
    Returned: the larger of two lower bounds on that idle, at least 0. (1) H_post - G_post: every op of the stretch
    launched by H_post. (2) (H_post - H_c) - (G_post - G_c), ``combine_host_s`` / ``combine_gpu_s`` the combine's
    (its all-to-all and unpermute, ``COMBINE_HOST_OPS``; the combine all-to-all's GPU time): the combine reads the
    experts' output, so the host launches it after their GEMMs (Megatron-Core ``MoELayer.forward``: dispatch,
    experts, ``token_combine``), and when those are host-paced it starts after the host's last expert launch,
    however long it runs -- bound (1) let its GPU time hide under the host's expert launches (moe56b, 2026-12-07;
    until then bound (1) alone). Still a lower bound: host-paced ops bunched at the start of the stretch and
    GPU-heavy ones at its end expose more. Megatron-Bridge's Qwen3 GB300 recipe states the effect (perf_recipes
    qwen3_moe.py, on ``moe_use_grouped_tensor``: "the legacy grouped MLP path syncs tokens_per_expert to the host
    every layer, which serializes the CPU behind the GPU when dispatch is fast")."""
    h = np.asarray(host_post_s, dtype=np.float64)
    return np.maximum(np.maximum(h - gpu_post_s, (h - combine_host_s) - (gpu_post_s - combine_gpu_s)), 0.0)


def kind_block_model(m, kind: str):
    """One layer of a plain (non-hybrid) MoE model whose MoE layers are placed by ``first_dense`` /
    ``dense_layers`` / ``layer_freq`` (DeepSeek-V3's first three dense, ``first_k_dense_replace``) as a one-layer
    model of that ``kind`` (vocab.HYBRID_LAYER): "-" its dense layer (attention + the ``dense_width`` MLP), "E" its
    MoE layer (attention + router + experts), so the step-time model prices that layer alone (the layers a stack
    keeps 16-bit under the fp8/fp4 recipe are layers of known kinds: step_time ``kept_layer_kinds``; a hybrid
    model's are its pattern's blocks, ssm ``kind_block_model``)."""
    one = m.moe.model_copy(update={"first_dense": int(kind == "-"), "dense_layers": [], "layer_freq": 1})
    return m.model_copy(update={"layers": 1, "mtp_layers": 0, "moe": one})


def layer_symbols(m) -> np.ndarray:
    """The kind of each global layer of a plain MoE model (vocab.HYBRID_LAYER symbols): "E" at ``moe_layer_ids``,
    "-" (a dense MLP) elsewhere."""
    kinds = np.full(m.layers, "-")
    kinds[list(m.moe_layer_ids)] = "E"
    return kinds


def expert_shapes(T, tp, etp, ep, experts: int, top_k: int, load):
    """(local experts, tokens per local expert, weight-shard divisor) of one rank, vectorised.

    With sequence parallelism each of the tp ranks of an attention group routes ``T / tp`` of
    the micro-batch's ``T`` tokens (Megatron-Core requires SP with TP > 1 and MoE). The etp x ep
    ranks of one expert-model-parallel group hold all experts, each expert's weights split over
    etp ranks (column/row parallel like a dense MLP); each etp rank sees every token the group
    routes to its experts (the dispatcher all-gathers them over the ETP group) and computes them
    on its 1/etp slice. Tokens per expert: (T/tp) * ep * etp * top_k / experts, times the
    busiest expert's ``load`` (max/mean). ETP = TP reproduces the pre-folding Megatron layout
    (experts sharded like the dense MLP)."""
    local = experts / ep
    tokens = T / tp * ep * etp * top_k / experts * load
    return local, tokens, etp


def expert_load(e) -> float:
    """Rows the busiest expert computes, over the mean load T k / E (``MoESpec``): dropless routing
    computes every routed row, the stated ``imbalance``; a capacity factor drops what exceeds
    capacity = ceil(T k / E x capacity_factor) (Megatron-Core moe_utils.py ``get_capacity``; Switch
    Transformer §2.2), min(imbalance, capacity_factor); padded to capacity
    (``--moe-pad-expert-input-to-capacity``, the dispatcher's ``drop_and_pad``) every expert computes
    exactly its capacity, padding rows included: MoEAlltoAllTokenDispatcher.preprocess sets each local
    expert's rows to ``capacity * tp_size * ep_size`` and ``num_out_tokens = capacity * num_experts``
    (megatron/core/transformer/moe/token_dispatcher.py, Megatron-Core 0.16.1), so the all-to-all carries
    the padding too."""
    if e.dropless:
        return e.imbalance
    return e.capacity_factor if e.pad_to_capacity else min(e.imbalance, e.capacity_factor)


def rank_load(e, ep):
    """Rows the busiest EP rank computes, over its mean load (``ep`` x the group's T k / E routed rows spread
    over its E / ep local experts), vectorised over ``ep``: each local expert at the busiest expert's
    ``expert_load`` (an upper bound: the stated ``imbalance`` says nothing of the other experts), but never
    more than the rows the group routes, so at most ``ep`` (every routed row of the EP group on this rank).
    With EP 1 a rank holds every expert and computes exactly the T k routed rows whatever the imbalance (until
    QA 51 a stated imbalance of 3 tripled the expert GEMMs of an EP 1 plan). Padding to capacity is not capped:
    every expert computes its whole capacity, padding rows included (``expert_load``)."""
    load = expert_load(e)
    if not e.dropless and e.pad_to_capacity:
        return np.full_like(np.asarray(ep, dtype=np.float64), load)
    return np.minimum(load, np.asarray(ep, dtype=np.float64))


def kept_rows(e) -> float:
    """Routed rows the experts keep (compute on real tokens) over the T k routed: 1 dropless, else
    min(1, ``capacity_factor``): capacity = ceil(T k / E x cf) rows per expert (``expert_load``), so under a
    capacity factor below 1 every expert drops at least (1 - cf) of the mean load T k / E; the dropped rows
    skip the experts (Megatron-Core's dispatcher leaves them out of ``num_out_tokens``; Switch Transformer
    §2.2: "the token representation is passed directly to the next layer through the residual
    connection"). Exact for balanced routing (``imbalance`` 1), the step time's busiest-expert load
    ``min(imbalance, cf)``; a stated imbalance drops more from the busiest experts, which ``MoESpec``
    (busiest over mean only) cannot count, so this is the kept share's upper bound."""
    return 1.0 if e.dropless else min(1.0, e.capacity_factor)


def padded_rows(e) -> float:
    """Routed rows held over the T k routed tokens: ``capacity_factor`` when padded to capacity (every
    expert's input is its full capacity, padding rows included: the same ``drop_and_pad`` preprocess as
    ``expert_load``), else 1 (dropless and drop-only dispatch keep at most the T k routed rows). Scales the
    rows the experts' saved activations hold; the per-token routing tensors do not grow."""
    return e.capacity_factor if (not e.dropless and e.pad_to_capacity) else 1.0


#: smallest tile height of the GEMM tile table (planner.hardware.efficiency.TILES): a group's
#: ragged row count is padded to it
GROUP_TILE_M = 64


def grouped_gemm_time(eff, groups, m, n, k, peak_flops, hbm_bw, bytes_per_el, out_bytes=None):
    """Seconds of ``groups`` (m x k) @ (k x n) GEMMs run as Megatron-Core's grouped expert GEMM
    (TEGroupedMLP: TE ``GroupedLinear`` -> ``general_grouped_gemm``, which launches one cuBLAS GEMM
    per expert from C++ over a few compute streams — transformer_engine/pytorch/cpp_extensions/
    gemm.py, ``nvte_multi_stream_cublas_gemm``): each expert's GEMM keeps its own waves (Hopper
    cuBLAS kernels are persistent, one CTA per SM, so concurrent streams fill little of another's
    tail — not modelled), and each group's rows are padded to whole tiles, so a group of m rows
    uses m / (ceil(m / 64) * 64) of its tile rows: efficiency falls with few tokens per expert
    (fine-grained experts, small micro-batches). What grouping saves is host time (one Python op
    per projection instead of one per expert: MOE_HOST_OPS_GROUPED), not the per-expert cuBLASLt
    set-up of the C++ loop (``grouped_gemm_host_ops``)."""
    padded = np.ceil(np.asarray(m, dtype=np.float64) / GROUP_TILE_M) * GROUP_TILE_M  # the tiles compute these rows
    return groups * eff.gemm_time(padded, n, k, peak_flops, hbm_bw, bytes_per_el, out_bytes=out_bytes)


def grouped_gemm_host_ops(stack, local, launch_s: float, recipe: str | None = None):
    """Host ops (in units of ``launch_s``) that the multi-stream grouped GEMM's per-expert cuBLASLt calls
    add to one MoE layer forward: 2 expert GEMMs per local expert at ``TE_GROUPED_GEMM_PER_EXPERT_S`` of
    the GEMMs' scaling (``recipe``: the low-precision recipe's name, None for 16-bit GEMMs) each, on the
    stacks that run TEGroupedMLP (``moe_grouped_gemm``) unfused. Host-side: it costs step time only where
    the host, not the GPU, bounds the pass (few tokens per expert, many local experts)."""
    if not stack.moe_grouped_gemm or getattr(stack, "moe_fused_mlp", False) or launch_s <= 0:
        return 0.0
    per_expert = TE_GROUPED_GEMM_PER_EXPERT_S[GROUPED_GEMM_SCALING.get(recipe, "tensor")]
    return 2.0 * np.asarray(local, dtype=np.float64) * per_expert / launch_s


def grouped_mm_time(gemm: Callable, local, m, n, k, kw: dict) -> tuple:
    """(forward, backward) seconds of ``local`` (m x k) @ (k x n) GEMMs run as torch's one grouped kernel
    (``torch._grouped_mm``: transformers 5.23 integrations/moe.py ``_grouped_mm``, the forward and both gradients
    each one launch over every group): the groups' tiles share the waves (``gemm``'s ``batch``: the shape-based
    efficiency of one batched kernel, ``Efficiency.gemm_time``), each group's rows padded to whole tiles as in
    ``grouped_gemm_time`` (the kernel computes a group's last partial tile). Where Megatron's TEGroupedMLP launches
    one cuBLAS GEMM per expert, each with its own waves (``grouped_gemm_time``)."""
    padded = np.ceil(np.asarray(m, dtype=np.float64) / GROUP_TILE_M) * GROUP_TILE_M
    return gemm(padded, n, k, batch=local, **kw)


def node_hit_probability(experts: int, top_k: int, nodes, groups: int = 1, topk_groups: int = 1):
    """Probability that a token's ``top_k`` distinct experts, drawn uniformly (forced-balanced
    routing) from ``experts`` spread evenly over ``nodes`` nodes, include at least one on a given
    node: 1 - C(E - E/n, k) / C(E, k). Group-limited routing (DeepSeek-V3 §2.1.2 node-limited
    routing, at most M nodes per token; Megatron-Core ``--moe-router-num-groups`` /
    ``--moe-router-group-topk``) lets a token's experts come from its ``topk_groups`` chosen groups
    only: megatron/core/transformer/moe/moe_utils.py ``group_limited_topk`` views the scores as
    ``[tokens, num_groups, experts / num_groups]`` (groups are contiguous expert ranges, as an EP rank's
    local experts and a node's ranks are), picks ``group_topk`` groups and masks the rest. Under forced
    balancing the logits are random (router.py ``apply_random_logits``), so the chosen groups are a
    uniform draw of topk_groups of the ``groups``, and a node reached must hold one of them. With g >= n
    groups (g / n per node) that bounds the hit probability by the chance the node holds one, 1 - C(g - g/n,
    topk_groups) / C(g, topk_groups) (hypergeometric); with g < n (a group over n / g nodes) by the chance
    its group is chosen, topk_groups / g. The probability is capped at that bound."""
    nodes = np.atleast_1d(np.asarray(nodes, dtype=np.float64))
    out = np.empty_like(nodes)
    for i, n in enumerate(nodes):
        per = experts / max(n, 1.0)  # experts per node
        if per.is_integer():
            miss = comb(int(experts - per), top_k) / comb(experts, top_k)
        else:  # uneven spread: draws with replacement
            miss = (1 - per / experts) ** top_k
        p = 1.0 - miss
        if groups > 1:
            p = min(p, group_node_bound(groups, topk_groups, n))
        out[i] = p
    return out


def group_node_bound(groups: int, topk_groups: int, nodes: float) -> float:
    """Chance that a given one of ``nodes`` nodes holds one of a token's ``topk_groups`` groups, drawn uniformly
    from ``groups`` contiguous groups spread evenly over the nodes (``node_hit_probability``): 1 - C(g - g/n, G) /
    C(g, G) where the node holds g/n whole groups, else (a group spans several nodes, or uneven) G * max(n/g, 1)/n,
    the share of nodes G groups can cover."""
    per_node = groups / max(nodes, 1.0)
    if per_node >= 1.0 and per_node.is_integer():
        return 1.0 - comb(int(groups - per_node), topk_groups) / comb(groups, topk_groups)
    return min(1.0, topk_groups * max(nodes / groups, 1.0) / nodes)


@lru_cache(maxsize=None)
def round_robin_blocks(experts: int, top_k: int, blocks: int) -> float:
    """Mean number of the ``blocks`` equal contiguous expert ranges (an EP rank's local experts, or a node's)
    that one token's experts touch under round-robin routing (vocab.MOE_ROUTING): NeMo AutoModel's
    ``FakeBalancedGate.forward`` gives token t the experts ``arange(T k).view(T, k) % E``, i.e. t k .. t k + k - 1
    (mod E), and EP rank r holds the experts r E/ep .. (r + 1) E/ep - 1 (components/moe/experts.py
    ``init_token_dispatcher``: ``local_expert_indices_offset = ep_rank * num_local_experts``), consecutive EP ranks
    sharing a node. The first expert t k mod E runs over the multiples of gcd(k, E), each equally often (every
    expert gets the same load); counted exactly over them."""
    size = experts / max(blocks, 1)
    starts = range(0, experts, gcd(top_k, experts))
    return float(np.mean([len({int(((s + j) % experts) // size) for j in range(top_k)}) for s in starts]))


def dispatch_bytes(tokens_rank, top_k: int, hidden: int, el_bytes: float, ep, ep_per_node, dedup: bool,
                   experts: int, groups: int = 1, topk_groups: int = 1, routing: str = "learned", domains=None):
    """(bytes over NVLink, bytes over the NIC) that leave one rank in one dispatch.

    ``tokens_rank`` tokens of ``hidden`` elements each; ``ep`` ranks in the EP group of which
    ``ep_per_node`` share a node (n = ep / ep_per_node nodes). Without deduplication (Megatron's
    all-to-all) every (token, expert) copy travels: k * tokens rows, (ep - ep_per_node)/ep of them
    off the node. With per-node deduplication (DeepEP/HybridEP) a token crosses to each remote
    node it has an expert on once: tokens * (n - 1) * P(node hit) rows; inside the node it goes
    once to each local GPU holding one of its experts (at most k). Under round-robin routing
    (``routing``, ``round_robin_blocks``) a token's k consecutive experts sit on a few neighbouring ranks of one
    or two nodes: it reaches the mean number of nodes and GPUs counted there, the source's own node being any of
    the n equally often (the experts a token gets do not depend on the rank that routes it)."""
    ep = np.asarray(ep, dtype=np.float64)
    g = np.minimum(np.asarray(ep_per_node, dtype=np.float64), ep)
    n = np.maximum(ep / np.maximum(g, 1.0), 1.0)
    row = np.asarray(tokens_rank, dtype=np.float64) * hidden * el_bytes
    if not dedup:  # copies to the other g - 1 GPUs of the node, and to the ep - g off it
        total = row * top_k
        return total * (g - 1) / np.maximum(ep, 1.0), total * (ep - g) / np.maximum(ep, 1.0)
    # the other domains: n - 1 of g ranks each, or, where the group straddles (``domains`` D given, comm
    # ``ep_domain_members``: the rank's own domain holds g of its members), D - 1 holding the other ep - g,
    # priced as equal ones of (ep - g) / (D - 1) ranks (n_r = ep (D - 1) / (ep - g) such domains would tile the group)
    others = n - 1 if domains is None else np.asarray(domains, dtype=np.float64) - 1
    n_r = n if domains is None else np.where(others == n - 1, n, ep * others / np.maximum(ep - g, 1.0))
    if routing == "round_robin":
        rr = np.vectorize(lambda blocks: round_robin_blocks(int(experts), int(top_k), int(round(blocks))), otypes=[float])
        nodes_hit, gpus_hit = rr(n_r), rr(ep)
        # remote nodes: (ep - g) / ep = (n - 1) / n of those reached; NVLink copies: the GPUs reached other than
        # the receiving one
        return row * gpus_hit * (g - 1) / g, row * nodes_hit * np.where(others == n - 1, n - 1, (ep - g) * n / ep) / n
    remote = row * others * node_hit_probability(experts, top_k, n_r, groups, topk_groups)
    p_node = node_hit_probability(experts, top_k, n, groups, topk_groups)
    # in each node reached, the token's k/(n p) experts there sit on g (1 - (1 - 1/g)^that) GPUs;
    # the copies to GPUs other than the receiving one travel over NVLink
    k_node = top_k / (n * p_node)
    gpus_hit = g * (1 - (1 - 1 / g) ** k_node)
    local = row * n * p_node * gpus_hit * (g - 1) / g
    return local, remote


def ep_domains(ep, etp, gpus_per_node, ep_dom=None):
    """(fewest, most, domains) of the EP group's members on one NVLink domain (comm ``ep_domain_members``), or,
    with no placement given, min(ep, g / etp) on each of ep over that many domains (``members_per_node``)."""
    if ep_dom is not None:
        return tuple(np.asarray(x, dtype=np.float64) for x in ep_dom)
    g = members_per_node(ep, etp, gpus_per_node)
    return g, g, None


def ep_link_bytes(tokens_rank, top_k: int, hidden: int, el_bytes: float, ep, etp, gpus_per_node, ep_dom, dedup: bool,
                  experts: int, groups: int = 1, topk_groups: int = 1, routing: str = "learned"):
    """(NVLink bytes, NIC bytes) of the busiest rank of each link class in one dispatch over the EP group: the
    all-to-all finishes with its slowest rank, and the rank that sends most over its NIC is the one with the fewest
    group members on its NVLink domain, the one that sends most over NVLink the one with the most (comm
    ``ep_domain_members``; a group straddling a domain boundary, EP 64 on 72-GPU NVL72 racks, has both). Each
    rank's bytes are ``dispatch_bytes``' for its own domain's share: (c - 1) / ep of its copies over NVLink and
    (ep - c) / ep over the NIC without deduplication, as DeepEP's normal kernels and hierarchical all-to-alls count
    them (deepseek-ai/DeepEP README "Normal kernels": NVLink inside the domain, RDMA across it; DeepSeek-V3 report
    §3.2.2: a token crosses IB to each remote node once, then NVLink); the two link classes run at once
    (``comm.a2a_time``). Where the groups tile the domains the two ranks are alike: one rank's bytes, as before."""
    lo, hi, doms = ep_domains(ep, etp, gpus_per_node, ep_dom)
    args = (experts, groups, topk_groups, routing)
    nvl, nic = dispatch_bytes(tokens_rank, top_k, hidden, el_bytes, ep, hi, dedup, *args)
    if ep_dom is None:
        return nvl, nic
    _, nic = dispatch_bytes(tokens_rank, top_k, hidden, el_bytes, ep, lo, dedup, *args, domains=doms)
    return nvl, nic


def etp_gather_time(nbytes, etp, gpus_per_node, links, etp_dom=None):
    """One all-gather of the dispatched rows over the expert-TP group (Megatron-Core token_dispatcher.py
    ``MoEAlltoAllTokenDispatcher.token_dispatch``: ``gather_from_sequence_parallel_region(..., group=self.tp_group)``
    after the all-to-all, the expert-TP group; ``reduce_scatter_to_sequence_parallel_region`` back in the combine,
    the same bytes), ``nbytes`` the gathered buffer. The group is etp consecutive ranks (parallel_state.py
    ``initialize_model_parallel``: ``expert_decoder_rank_generator``, order tp-cp-ep-dp-pp, etp innermost), so where
    etp does not divide the NVLink domain some groups straddle it: ``etp_dom`` (fewest, most, domains) of comm
    ``ep_domain_members(etp, 1, world, g)`` prices the worst group on the links its members use
    (``comm.placed_collective_time``: the fewest members' NICs carry what their domain lacks). None: min(etp, g) on
    each domain (``collective_time``). ETP 16 on 72-GPU NVL72 racks: the fifth group of each rack is 8 + 8 across
    two racks, its gather half over the NIC; until ep41 all of it was priced on NVLink."""
    intra, inter, a_in, a_out = links
    if etp_dom is None:
        return collective_time("all_gather", nbytes, etp, 1, gpus_per_node, intra, inter, a_in, a_out)
    lo, hi, doms = (np.asarray(x, dtype=np.float64) for x in etp_dom)
    return placed_collective_time("all_gather", nbytes, etp, lo, hi, doms, intra, inter, a_in, a_out)


def prob_row_bytes(dispatcher: str, experts: int, ep, ep_per_node):
    """Bytes of the probability row the dispatcher moves with each token row (``PROB_ROW_BYTES_PER_EXPERT``
    per expert of the NVLink domain: experts / ep local experts on each of its ``ep_per_node`` ranks)."""
    return PROB_ROW_BYTES_PER_EXPERT[dispatcher] * experts / np.asarray(ep, dtype=np.float64) * np.asarray(ep_per_node)


def dispatcher_domain(dispatcher: str, ep, etp, gpus_per_node):
    """GPUs of the NVLink domain a token dispatcher moves rows inside over NVLink (its "node"; the rest cross the
    NIC), given the job's domains of ``gpus_per_node`` and the flex dispatcher's ``tp_ep_group`` of S = etp x ep
    consecutive ranks (etp innermost; comm ``ep_domain_members``):

    * the all-to-all dispatcher (NCCL ``all_to_all_single``): the job's own domains -- NCCL reaches every peer of
      the NVLink domain over NVLink, so a group straddling two racks is placed rank by rank (ep40);
    * DeepEP, S > 8: 8. Its normal kernels take every ``NUM_MAX_NVL_PEERS`` = 8 consecutive ranks of the group as one
      node (deepseek-ai/DeepEP csrc/kernels/configs.cuh ``#define NUM_MAX_NVL_PEERS 8``; internode.cu: ``rdma_rank
      = rank / NUM_MAX_NVL_PEERS``, and every token bound for another ``dst_rdma_rank`` leaves through
      ``nvshmemi_ibgda_put_nbi_warp``, GPU-initiated InfiniBand), so on a 72-GPU NVL72 rack an EP 64 group still
      sends 7/8 of its peers' rows through the NIC. S <= 8: its intranode kernels, one NVLink domain;
    * HybridEP: gcd(S, g). Megatron-Core's ``_hybrid_ep_num_nodes`` (megatron/core/transformer/moe/fused_a2a.py)
      takes the ranks a domain from ``NUM_OF_HYBRID_EP_RANKS_PER_NVLINK_DOMAIN`` or the ranks the allocator can
      reach and asserts ``group.size() % ranks_per_nvlink_domain == 0``: every domain holds the same count of the
      group, so a group that straddles unevenly (EP 64 on 72-GPU racks: 8 + 56) runs as domains of the largest
      count every block of which lies inside one rack, gcd(64, 72) = 8; where the groups tile the domains it is
      min(S, g), as before.

    >>> [int(x) for x in (dispatcher_domain("deepep", 64, 1, 72), dispatcher_domain("hybridep", 64, 1, 72),
    ...                   dispatcher_domain("hybridep", 64, 1, 64), dispatcher_domain("alltoall", 64, 1, 72))]
    [8, 8, 64, 72]
    """
    g = np.asarray(gpus_per_node, dtype=np.int64)
    span = np.asarray(ep, dtype=np.int64) * np.asarray(etp, dtype=np.int64)
    if dispatcher == "deepep":
        return np.where(span > DEEPEP_NVL_PEERS, np.gcd(span, np.gcd(g, DEEPEP_NVL_PEERS)), g)
    if dispatcher == "hybridep":
        return np.where(span > 1, np.gcd(span, g), g)
    return g + 0 * span


def dispatch_extra_time(dispatcher: str, tokens_rank, experts: int, top_k: int, ep, ep_per_node, etp, gpus_per_node,
                        links, groups: int = 1, topk_groups: int = 1, load=1.0, ep_dom=None):
    """Seconds of EP traffic per MoE layer (forward + backward) that a dispatcher moves beyond the token rows
    of its four all-to-alls (``dispatch_bytes``): HybridEP's routing-map all-gather once per forward
    (``ROUTING_MAP_GATHER_BYTES``: tokens x experts bytes per rank, gathered from all ep ranks) and the
    probability rows (``prob_row_bytes``) its forward dispatch and backward combine carry beside the same
    token rows (``dispatch_bytes`` is linear in the row width). Bandwidth terms only: the all-to-all dispatcher
    also all-gathers (its per-expert counts) over the EP group every forward, so the collective's latency is
    paid by both and charged to neither, and the probabilities travel inside the dispatch kernel. 0 for the
    all-to-all and DeepEP dispatchers. ``links`` = (intra bw, inter bw per GPU, intra alpha, inter alpha).
    ``tokens_rank``: the tokens the rank routes (the map has one row each, whatever the experts' load);
    ``load``: the busiest rank's routed rows over the mean (``expert_load``), which the probability rows follow.
    ``ep_dom``: the groups' placement on the domains (``moe_layer``; the probability rows by ``ep_link_bytes``)."""
    intra, inter = links[0], links[1]
    t = 0.0
    gather_b = ROUTING_MAP_GATHER_BYTES[dispatcher]
    if gather_b:
        nbytes = np.asarray(tokens_rank, dtype=np.float64) * experts * gather_b * np.asarray(ep, dtype=np.float64)
        t = t + collective_time("all_gather", nbytes, ep, etp, gpus_per_node, intra, inter, 0.0, 0.0)
    width = prob_row_bytes(dispatcher, experts, ep, ep_per_node)
    if np.any(width):
        p_nvl, p_nic = ep_link_bytes(np.asarray(tokens_rank) * load, top_k, width, 1.0, ep, etp, gpus_per_node, ep_dom,
                                     DISPATCHERS[dispatcher], experts, groups, topk_groups)
        t = t + 2 * a2a_time(p_nvl, p_nic, ep, ep_per_node, intra, inter, 0.0, 0.0,
                             domains=None if ep_dom is None else ep_dom[2])
    return t


#: DeepEP's recommended ``Config`` per EP group size, the fields its buffer-size hints read: (NVL chunked recv tokens,
#: RDMA chunked send tokens, RDMA chunked recv tokens), for (dispatch, combine). deepseek-ai/DeepEP deep_ep/buffer.py
#: @04b06f7a ``Buffer.get_dispatch_config`` / ``get_combine_config`` (``Config(num_sms, nvl_send, nvl_recv, rdma_send,
#: rdma_recv)``; the NVL send size enters no hint). A group size outside the table is refused there ("Unsupported
#: number of EP ranks"); here it takes the next larger entry (the largest past 160).
DEEPEP_CONFIGS = {
    2: ((256, 6, 128), (256, 6, 128)), 4: ((256, 6, 128), (256, 6, 128)), 8: ((256, 6, 128), (256, 6, 128)),
    16: ((288, 20, 128), (288, 28, 128)), 24: ((288, 32, 128), (288, 20, 128)), 32: ((288, 32, 128), (288, 20, 128)),
    64: ((288, 28, 128), (288, 20, 128)), 128: ((560, 32, 128), (560, 12, 128)), 144: ((720, 12, 128), (720, 8, 128)),
    160: ((720, 12, 128), (720, 8, 128)),
}
#: ``Buffer.num_sms``: DeepEP's default 20, Megatron-Core's ``--moe-deepep-num-sms`` default 20 (``set_deepep_num_sms``)
DEEPEP_NUM_SMS = 20
#: GPUs DeepEP's NVLink buffers span (csrc/kernels/configs.cuh ``NUM_MAX_NVL_PEERS``): its hints assume 8-GPU nodes
DEEPEP_NVL_PEERS = 8
#: Per-token metadata in DeepEP's hints (csrc/config.hpp): ``kNumMaxTopK`` = 128 int64 indices + 128 float weights,
#: ``kNumMaxScales`` = 128 float scales and ``internode::get_source_meta_bytes()`` (``SourceMeta``: 2 int = 8 bytes)
DEEPEP_TOKEN_META_BYTES = 128 * 8 + 128 * 4 + 128 * 4 + 8
#: DeepEP's ``Buffer`` constructor also cudaMallocs ``NUM_WORKSPACE_BYTES`` = 32 MiB (csrc/deep_ep.cpp, configs.cuh)
DEEPEP_WORKSPACE_BYTES = 32 * 2**20
#: HybridEP sizes its buffers for at least this many tokens a rank (deep_ep/hybrid_ep_buffer.py ``HybridEPBuffer``:
#: ``config.max_num_of_tokens_per_rank = max(max_num_of_tokens_per_rank, 512)``)
HYBRIDEP_MIN_TOKENS = 512


def _align(a, b):
    return -(-a // b) * b


def deepep_buffer_bytes(hidden: int, group, num_sms: int = DEEPEP_NUM_SMS):
    """Bytes per rank of DeepEP's normal-mode ``Buffer`` as Megatron-Core allocates it, once, at the first dispatch
    (megatron/core/transformer/moe/fused_a2a.py @02ad939b ``get_buffer``: the largest of the dispatch and combine
    configs' ``get_nvl_buffer_size_hint`` / ``get_rdma_buffer_size_hint`` for ``hidden_bytes = x.size(1) *
    max(x.element_size(), 2)`` -- 2 bytes an element whether the rows are bf16 or fp8 -- over the flex dispatcher's
    ``tp_ep_group`` of ``group`` ranks; reused while no larger one is asked for), plus its 32 MiB workspace.

    deepseek-ai/DeepEP csrc/config.hpp @030cdf0a, with C = num_sms / 2 channels, P = min(group, 8) NVLink peers,
    R = max(group / 8, 1) RDMA ranks, b = hidden_bytes and m = ``DEEPEP_TOKEN_META_BYTES``:

    * ``get_nvl_buffer_size_hint`` (l. 45-67): C P (2R + 3) 4 + C P r_nvl (b + m), r_nvl the NVL recv tokens;
    * ``get_rdma_buffer_size_hint`` (l. 69-97), 0 at group <= 8: C R (8 x 2 + 2) 2 x 4 + 2 C R r_rdma (b + m + 16)
      + 1 MiB, r_rdma the RDMA recv tokens rounded up to a multiple of the send tokens (``Config``'s constructor,
      l. 39: ``align(num_max_rdma_chunked_recv_tokens, num_max_rdma_chunked_send_tokens)``);

    each rounded up to 128 bytes. DeepSeek-V3 (hidden 7,168) at EP 64: 377.7 MB NVLink + 32 MiB + 368.6 MB RDMA =
    0.73 GiB. Returns (nvl, rdma) bytes, the workspace in ``nvl``; 0 for a group of one (no dispatcher)."""
    n = np.asarray(group, dtype=np.int64)
    keys = np.array(sorted(DEEPEP_CONFIGS))
    key = keys[np.minimum(np.searchsorted(keys, n), len(keys) - 1)]
    recv_nvl = np.array([max(c[0] for c in DEEPEP_CONFIGS[k]) for k in keys])
    recv_rdma = np.array([max(_align(c[2], c[1]) for c in DEEPEP_CONFIGS[k]) for k in keys])
    idx = np.searchsorted(keys, key)
    b = 2 * int(hidden)
    ch = num_sms // 2
    peers = np.minimum(n, DEEPEP_NVL_PEERS)
    rdma_ranks = np.maximum(n // DEEPEP_NVL_PEERS, 1)
    nvl = ch * peers * (2 * rdma_ranks + 3) * 4 + ch * peers * recv_nvl[idx] * (b + DEEPEP_TOKEN_META_BYTES)
    rdma = (ch * rdma_ranks * (DEEPEP_NVL_PEERS * 2 + 2) * 2 * 4
            + 2 * ch * rdma_ranks * recv_rdma[idx] * (b + DEEPEP_TOKEN_META_BYTES + 16) + 2**20)
    on = n > 1
    nvl = np.where(on, _align(nvl, 128) + DEEPEP_WORKSPACE_BYTES, 0)
    rdma = np.where(on & (n > DEEPEP_NVL_PEERS), _align(rdma, 128), 0)
    return nvl.astype(np.float64), rdma.astype(np.float64)


def hybridep_buffer_bytes(hidden: int, tokens_rank, group, ranks_per_domain, local_experts):
    """Bytes per rank of HybridEP's ``HybridEPBuffer``, which Megatron-Core builds once, at the first dispatch, for
    that micro-batch's ``num_tokens = x.shape[-2]`` (the rank's tokens entering the dispatch) over the
    ``tp_ep_group`` (fused_a2a.py @02ad939b ``HybridEPDispatch.forward`` -> ``init_hybrid_ep_buffer``); bf16 rows
    (Megatron asserts ``not fp8_dispatch``), ``use_shared_buffer`` left at True (dispatch and combine share the
    NVLink token and probability buffers). With T = max(tokens_rank, 512), R ranks of the group per NVLink domain,
    N = group / R domains, E = local experts and h = hidden, from deepseek-ai/DeepEP:

    * NVLink (csrc/hybrid_ep/buffer/intranode.cu @2540b8ab ``NVLCoordinator``: ``max_num_of_tokens = T x R x N``,
      "the worst case, all tokens are routed to the same expert"): the combine's ``expert_input_token`` T R N h x 2
      and ``expert_input_prob`` T R N (E R) x 4, the dispatch's ``expert_output_scaling_factor`` T R N (h / 128) x 4;
    * RDMA (csrc/hybrid_ep/buffer/internode.cu @2410713f ``RDMACoordinator``, N > 1 only): the dispatch's
      ``attn_input_token`` T h x 2, ``attn_input_prob`` T (E R N) x 4, ``attn_input_scaling_factor`` T (h / 128) x 4
      and its inter-node group token / prob / scaling rows T (N - 1) (2 h + 4 E R + 4 h / 128); the combine's
      ``rdma_intra_node_red`` and ``rdma_inter_node_group`` token / prob rows, 2 T (N - 1) (2 h + 4 E R).

    Its flags are a few KB: left out. DeepSeek-V3 (h 7,168, 4 local experts) at EP 64 on 8-GPU nodes with 4,096
    tokens a rank: 3.85 GB NVLink + 1.31 GB RDMA. Returns (nvl, rdma) bytes; 0 for a group of one."""
    n = np.asarray(group, dtype=np.float64)
    r = np.minimum(np.asarray(ranks_per_domain, dtype=np.float64), n)
    nodes = np.maximum(n / np.maximum(r, 1.0), 1.0)
    t = np.maximum(np.asarray(tokens_rank, dtype=np.float64), HYBRIDEP_MIN_TOKENS)
    h = float(hidden)
    e = np.asarray(local_experts, dtype=np.float64)
    rows = t * n  # max_num_of_tokens = T x R x N
    nvl = rows * (2 * h + 4 * e * r + 4 * (h // 128))
    rest = nodes - 1
    rdma = (t * (2 * h + 4 * e * r * nodes + 4 * (h // 128)) + t * rest * (2 * h + 4 * e * r + 4 * (h // 128))
            + 2 * t * rest * (2 * h + 4 * e * r))
    on = n > 1
    return np.where(on, nvl, 0.0), np.where(on & (rest > 0), rdma, 0.0)


def dispatcher_buffer_bytes(dispatcher: str, hidden: int, experts: int, tokens_rank, ep, etp, gpus_per_node):
    """Bytes per rank of a token dispatcher's communication buffers, allocated once for the job outside PyTorch's
    caching allocator (DeepEP: cudaMalloc + NVSHMEM; HybridEP: cudaMalloc + IPC-shared allocations): DeepEP's
    (``deepep_buffer_bytes``) and HybridEP's (``hybridep_buffer_bytes``) over Megatron-Core's flex dispatcher's
    ``tp_ep_group`` (etp x ep ranks, etp innermost: ``min(etp x ep, gpus_per_node)`` of them share a node).
    0 for the all-to-all dispatcher: its permuted rows and ``all_to_all_single`` outputs are ordinary tensors
    (the saved ones are in the activations: ``activations.layer_saved_tensors`` ``moe.dispatched_input``)."""
    group = np.asarray(ep, dtype=np.float64) * np.asarray(etp, dtype=np.float64)
    if dispatcher == "deepep":
        nvl, rdma = deepep_buffer_bytes(hidden, group.astype(np.int64))
    elif dispatcher == "hybridep":  # ranks a domain as HybridEP counts them (dispatcher_domain)
        per_node = members_per_node(group, 1, dispatcher_domain(dispatcher, ep, etp, gpus_per_node))
        nvl, rdma = hybridep_buffer_bytes(hidden, tokens_rank, group, per_node, experts / np.asarray(ep, dtype=np.float64))
    else:
        return np.zeros(np.shape(group))
    return nvl + rdma


def permute_bytes(tokens_rank, top_k: int, hidden: int, el_bytes: float):
    """HBM bytes of one forward pass of the token permutation around the experts (Megatron-Core
    moe_utils.py ``permute``: gathers each token once per chosen expert, reads T x h and writes
    k T x h; ``unpermute``: reads the k T x h expert outputs and writes T x h, the probability
    weighting fused in; the fused TE kernels of ``--moe-permute-fusion`` move the same bytes).
    The backward's scatter-adds are charged by the layer's backward factor
    (layer_ops.BWD_MEMBOUND_FACTOR), as for every other elementwise op."""
    row = np.asarray(tokens_rank, dtype=np.float64) * hidden * el_bytes
    return row * (1 + top_k) + row * (top_k + 1)


def chunk_sort_bytes(tokens_rank, top_k: int, hidden: int, el_bytes: float, local, dedup: bool, etp=1):
    """HBM bytes of one forward pass of the all-to-all dispatcher's second permutation: the rows a rank
    receives arrive grouped by source rank and are re-sorted by local expert before the experts ("Permutation
    2: Sort tokens by local expert", ``MoEAlltoAllTokenDispatcher.dispatch_postprocess`` ->
    ``sort_chunks_by_idxs``, or a ``transpose(0, 1).contiguous()`` copy under ``drop_and_pad``), and put back
    in source-rank order before the combine all-to-all ("Unpermutation 2", ``combine_preprocess``): two
    copies (read + write) of the k x tokens routed rows (x etp: with expert-tensor parallelism the rows of
    the etp ranks are all-gathered before the sort), whenever the rank holds more than one expert
    (``num_local_experts > 1``; megatron/core/transformer/moe/token_dispatcher.py, Megatron-LM @0014f137;
    the fused TE ``fused_sort_chunks_by_index`` of ``--moe-permute-fusion`` moves the same bytes).
    torchtitan's all-to-all expert parallelism does the same expert-major reordering after its dispatch
    (torchtitan/distributed/expert_parallel.py ``_permute`` / ``_unpermute``). The flex dispatchers
    (DeepEP / HybridEP, ``dedup``) hand the experts their tokens through one local permute, which
    ``permute_bytes`` already counts: 0 for them. The backward's copies are charged by the layer's
    backward factor (layer_ops.BWD_MEMBOUND_FACTOR), as for ``permute_bytes``."""
    rows = np.asarray(tokens_rank, dtype=np.float64) * top_k * np.asarray(etp, dtype=np.float64) * hidden * el_bytes
    # ``dispatch_postprocess`` tests only ``num_local_experts > 1``: without EP the sort is an identity copy
    on = (not dedup) & (np.asarray(local, dtype=np.float64) > 1)
    return np.where(on, 2 * 2 * rows, 0.0)  # two copies, each reads and writes the rows


def a2a_paired_share(pp, vpp, m_micro, group=None, rank=0):
    """Share of a stage's forward chunks that the combined-1F1B schedule pairs with a backward
    chunk of another micro-batch (Megatron-Core docs, "Combined 1F1B: Expert-Parallel All-to-All
    Overlap": the dispatch/combine of one micro-batch runs while the other computes, so each
    pair's all-to-all hides under the other's layer compute). Warm-up forwards and cool-down
    backwards have no partner: on pipeline rank ``rank`` of an interleaved pipeline the
    ``pipeline.interleaved_warmup`` count with the overlap, 2 (pp - rank - 1) + (vpp - 1) N + 1 of the m * vpp
    forward chunks (megatron/core/pipeline_parallel/schedules.py ``get_pp_rank_microbatches``: "more forward passes
    for earlier stages, later stages can immediately start with 1F1B", and with ``overlap_moe_expert_parallel_comm``
    "one extra micro-batch forward step before the 1f1b stages"; the steady loop pairs forward k + warm-up with
    backward k for the ``num_microbatches_remaining`` = m vpp - warm-up steps), the most on the first rank (``rank`` 0,
    the default); without pipelining (``combined_1f1b_schedule_for_no_pipelining``) the first forward and the last
    backward: 1 of m. ``group``: Megatron's explicit micro-batch group size N (``Stack.microbatch_group_size``; None:
    pp). ``rank`` broadcasts against the other arguments (step_time ``A2AShare``: each pipeline rank at its own share;
    until 2026-12-05, step42, every rank at the first's; until warm42 the same day without the extra forward, which
    the memory's micro-batches in flight already counted)."""
    pp = np.asarray(pp, dtype=np.float64)
    v = np.maximum(np.asarray(vpp, dtype=np.float64), 1.0)
    m = np.maximum(np.asarray(m_micro, dtype=np.float64), 1.0)
    g = pp if group is None else np.asarray(group, dtype=np.float64)
    warm = np.where(pp > 1, interleaved_warmup(pp, v, g, np.asarray(rank, dtype=np.float64), a2a_overlap=True), 1.0)
    return np.clip(1.0 - warm / (m * v), 0.0, 1.0)


def dualpipev_paired_share(pp, m_micro, rank=0):
    """Share of rank ``rank``'s forward chunks that DualPipeV runs as an overlapped forward/backward pair
    (``OVERLAP_F_B``; planner.model.pipeline ``dualpipev_orders``): rank r runs 2 (m - 2 pp + r + 1) + (pp - r - 1)
    pairs of its 2 m chunk forwards (the last rank one fewer), fewest on rank 0 (the default): 1 - (3 pp - 1) / (2 m).
    ``rank`` broadcasts (step_time ``A2AShare``: each rank at its own; until 2026-12-05, step42, every rank at rank
    0's). Without a pipeline there is no pair."""
    pp = np.asarray(pp, dtype=np.float64)
    m = np.maximum(np.asarray(m_micro, dtype=np.float64), 1.0)
    r = np.asarray(rank, dtype=np.float64)
    unpaired = 3 * pp - 1 - r + (r == pp - 1)  # of its 2 m forwards: 2 m less the pairs above
    return np.where(pp > 1, np.clip(1.0 - unpaired / (2 * m), 0.0, 1.0), 0.0)


#: SMs a token dispatcher's kernels hold while they run (DeepSeek-V3 report §3.2.2: 20 of the
#: H800's 132 SMs run the all-to-all; DeepEP ``Buffer.num_sms`` defaults to 20). Overlapped
#: compute runs on the rest.
A2A_COMM_SMS = 20


def comm_sm_slowdown(sm_count: float, held: float = A2A_COMM_SMS) -> float:
    """The share of an overlapped communication's time the compute beside it loses to the ``held`` SMs its kernels
    take of ``sm_count``: held / (sm_count - held) (the compute's rate falls by held / sm_count, its time rises by
    this). One rule for training's overlaps (``a2a_overlap_hidden``, ``shared_stream_hidden``) and serving's two-batch
    overlap (planner/workloads/serving_iteration.py ``IterationModel._overlapped``).

    >>> round(comm_sm_slowdown(132), 4), comm_sm_slowdown(132, 0)
    (0.1786, 0.0)
    """
    return held / max(sm_count - held, 1.0)


def a2a_overlap_hidden(a2a, f_attn, f_mlp, b_attn, b_mlp, sm_count: float, extra=0.0):
    """Seconds of one MoE layer's four all-to-alls (dispatch and combine, forward and backward;
    each ``a2a``) that the combined-1F1B schedule hides, per paired forward/backward of that layer.

    The pair runs as four phases, each a communication of one micro-batch beside a compute block
    of the other (Megatron-Core combined_1f1b.py; DeepSeek-V3 report §3.2.1 / Fig. 4, DualPipe's
    chunk): forward attention | backward combine, forward dispatch | backward MLP, forward MLP |
    backward dispatch, forward combine | backward attention. A phase takes the longer of its two
    sides, so each all-to-all hides up to the compute beside it, and that compute runs on the SMs
    the communication leaves (``A2A_COMM_SMS``): the hidden time is reduced by that slowdown. ``extra``
    (``dispatch_extra_time``) is placed in the forward-dispatch phase: HybridEP's routing-map gather runs there,
    on the communication stream inside ``hybrid_ep_dispatch`` (the flex dispatcher's ``token_dispatch`` is the
    schedule's dispatch node); its probability rows, on the forward dispatch and the backward combine, are
    put there too (one phase instead of two: a simplification). Eager (no full-iteration graph) HybridEP rows with the
    overlap run 11-25% slower than this hides (DeepSeek-V3 MXFP8 on NVL72), full-graph ones as priced: benchmarks/
    validate.py ``mbridge_all``, fourteenth pass (what-ifs with numbers; no source for the mechanism yet)."""
    a2a = np.asarray(a2a, dtype=np.float64)
    overlapped = sum(np.minimum(a2a + x_, c) for x_, c in ((0.0, f_attn), (extra, b_mlp), (0.0, f_mlp), (0.0, b_attn)))
    return overlapped * (1.0 - comm_sm_slowdown(sm_count))


#: How each stack's code places the shared experts' two GEMMs (fc1 = up / gate + activation, fc2 = down) on their own
#: CUDA stream against the layer pass's token dispatch and combine: per stack switch (a ``Stack`` field), groups of
#: (how many of the pass's all-to-alls the group runs beside, which GEMMs: 0 = fc1, 1 = fc2).
#:
#: * ``moe_shared_stream`` (NeMo AutoModel, always on): ``MoE.forward`` (nemo_automodel/components/moe/layers.py)
#:   launches the whole shared MLP on ``_shared_experts_stream`` before the routed path (gate, dispatch, grouped
#:   GEMMs, combine) and joins after the combine: both GEMMs beside both all-to-alls, one group.
#: * ``moe_shared_expert_overlap`` (Megatron-Core ``--moe-shared-expert-overlap``, off by default): the all-to-all
#:   token dispatcher drives the shared experts (Megatron-Core 0.16.1 moe/shared_experts.py: ``SharedExpertMLP`` split
#:   into ``pre_forward_comm`` / ``linear_fc1_forward_and_act`` / ``linear_fc2_forward`` / ``post_forward_comm`` /
#:   ``get_output`` on ``SharedExpertMLP.stream``; moe/token_dispatcher.py ``MoEAlltoAllTokenDispatcher``): the side
#:   stream joins the compute stream before the permutation (``dispatch_preprocess``), fc1 is launched once the dispatch
#:   all-to-all is enqueued (``dispatch_postprocess``), fc2 once the combine all-to-all is (``combine_postprocess``),
#:   and the streams join after the unpermute (``get_output``); ``set_tensor_grad_fn_sequence_sr`` gives the shared
#:   GEMMs' and the two all-to-alls' outputs' backward nodes the highest priority, so the backward launches each
#:   all-to-all and the GEMM beside it together again. So fc1 hides at most the dispatch, fc2 the combine: two groups.
#:   (The flex dispatcher has no such hooks: ``MoEFlexTokenDispatcher.set_shared_experts`` raises.)
SHARED_STREAM_SCHEDULES = {
    "moe_shared_stream": ((2, (0, 1)),),
    "moe_shared_expert_overlap": ((1, (0,)), (1, (1,))),
}


def shared_stream_schedule(stack):
    """The shared-expert stream schedule ``stack`` runs (``SHARED_STREAM_SCHEDULES``), or None: shared experts on the
    compute stream, in line with the routed path."""
    return next((v for k, v in SHARED_STREAM_SCHEDULES.items() if getattr(stack, k, False)), None)


def shared_stream_hidden(a2a, fc1, fc2, sm_count: float, schedule=SHARED_STREAM_SCHEDULES["moe_shared_stream"]):
    """Seconds of one MoE layer pass's token dispatch and combine (``a2a`` each) that the shared experts hide when
    they run on a second stream beside the routed path, placed as ``schedule`` says (``SHARED_STREAM_SCHEDULES``).
    Autograd runs each op's backward on the stream its forward ran on, so the forward (and its recompute) and the
    backward each overlap the pass's two all-to-alls with that pass's shared-expert GEMMs (``fc1``, ``fc2``: their
    forward, or their dgrad + wgrad). Per group of the schedule: the shorter of the all-to-alls it runs beside and its
    GEMMs, less the slowdown of the GEMMs on the SMs the dispatcher leaves them (``A2A_COMM_SMS``, as
    ``a2a_overlap_hidden``); the rest of the shared GEMMs runs beside the grouped GEMMs, compute beside compute, which
    hides nothing. (Megatron-Core's overlap also moves the shared experts' sequence-parallel gather and reduce-scatter
    onto their stream, ``pre_forward_comm`` / ``post_forward_comm``; their time is left where the layer's TP
    collectives price it.)"""
    a2a = np.asarray(a2a, dtype=np.float64)
    gemms = (fc1, fc2)
    return (sum(np.minimum(n * a2a, sum(gemms[i] for i in which)) for n, which in schedule)
            * (1.0 - comm_sm_slowdown(sm_count)))


def mtp_gemm_shapes(T, hidden: int):
    """The projection of one MTP module (DeepSeek-V3 §2.2, Megatron-Core multi_token_prediction.py
    ``eh_proj``): the concatenated [norm(h_prev); norm(emb)] (2h) projected to h, on every token.
    (M, N, K) of its forward GEMM; the module's transformer block, output head and loss are a
    layer and a head like the model's own."""
    return T, hidden, 2 * hidden


@dataclass(frozen=True)
class MoELayerTimes:
    """One MoE layer's MLP side on one rank, per micro-batch (arrays over layout keys)."""

    fwd_mlp: Any  # router + routed experts + shared experts, forward (s)
    bwd_mlp: Any  # their backward (dgrad + wgrad) (s)
    a2a: Any  # one dispatch (or combine) all-to-all, with the ETP gather when etp > 1 (s)
    membound_bytes: Any  # extra elementwise HBM bytes of a forward pass (top-k activations, permutation)
    host_ops: Any  # host-dispatched ops the MoE block adds to a layer forward
    sync_s: float = 0.0  # GPU idle per forward at the dispatcher's device-to-host sync (s)
    a2a_extra: Any = 0.0  # EP traffic beyond the four all-to-alls' token rows, forward + backward (s)
    #: the shared experts' share of ``fwd_mlp`` (s): what recomputing them re-runs (layer_ops ``_module_recompute``).
    #: Their backward is in ``bwd_mlp``, as Megatron-Core runs it (megatron/core/transformer/moe/shared_experts.py:
    #: ``SharedExpertMLP`` is an ``MLP``, its backward autograd's within the layer's); no step term reads that share
    #: apart (code48 dropped a ``bwd_shared`` written and never read)
    fwd_shared: Any = 0.0
    #: the shared experts' (fc1, fc2) forward and backward apart, what their own stream hides the all-to-alls under
    #: (``shared_stream_hidden``); the forward pair sums to ``fwd_shared``
    fwd_shared_fc: tuple = (0.0, 0.0)
    bwd_shared_fc: tuple = (0.0, 0.0)
    eager: EagerExpertOps = EagerExpertOps()  # TEGroupedMLP's eager activation / bias ops (eager_expert_ops)
    bwd_membound_bytes: Any = 0.0  # backward-only HBM bytes beyond BWD_MEMBOUND_FACTOR x the forward's (fused_mlp_bytes)
    #: TP collective seconds per pass (forward, and again backward) beyond the layer's one MLP collective: a loop
    #: over experts runs one per expert (``switch_mlp_layer``)
    tp_split: Any = 0.0
    kernels: float = 0.0  # GPU kernels the router adds to a layer forward, each at the per-kernel floor (router_kernels)


#: What transformers 5.23.0's experts kernels (``training.framework.experts_implementation``; activations_hf
#: ``hf_experts_kernel``) dispatch per MoE layer forward on one rank, counted in a real run (tests/data/hf_experts_ops.json,
#: tests/make_hf_experts_ops.py: the tiny Mixtral and Qwen3-MoE experts modules at 4 and 8 experts, all hit; the
#: same counts for both families). ``host_*``: torch calls (one Python-to-ATen dispatch each, ``Efficiency.launch_s``),
#: per layer and per local expert; ``syncs_*``: device-to-host syncs (``nonzero``, ``_local_scalar_dense``), each
#: ``MOE_SYNC_OPS`` launches of GPU idle.
#:
#: * "eager": the experts class's own loop (models/mixtral/modeling_mixtral.py ``MixtralExperts.forward``, the same in
#:   qwen3_moe and the other decorated families): per layer ``zeros_like``, ``one_hot`` (its min / max read on the
#:   host: 2 syncs), ``permute``, ``sum``, ``greater``, ``nonzero`` (1 sync): 9 calls, 3 syncs; per expert hit
#:   ``expert_idx == num_experts`` read by ``if`` (1 sync), ``expert_mask[expert_idx]`` / ``gate_up_proj[expert_idx]``
#:   / ``down_proj[expert_idx]`` indexed by a 0-d tensor (read on the host: 3 syncs), ``torch.where`` (``nonzero``,
#:   1 sync), the row gather, two ``F.linear``, ``chunk``, the activation, two ``*``, the weights' gather,
#:   ``index_add_``: 17 calls, 5 syncs. No sync in the backward.
#: * "grouped_mm": integrations/moe.py ``grouped_mm_experts_forward``: ``sort``, the row gather, ``histc``, ``cumsum``,
#:   two ``_grouped_mm`` (one kernel each over every local expert's rows, offsets on the device), the gate, the
#:   weighting, the inverse permutation and the sum: 27 calls a layer, whatever the experts, no sync.
@dataclass(frozen=True)
class HfExpertsOps:
    """One experts kernel's host calls and syncs per MoE layer forward (``HF_EXPERTS_OPS``)."""
    host_layer: float
    host_expert: float
    syncs_layer: float
    syncs_expert: float


HF_EXPERTS_OPS = {"eager": HfExpertsOps(9.0, 17.0, 3.0, 5.0), "grouped_mm": HfExpertsOps(27.0, 0.0, 0.0, 0.0)}


@dataclass(frozen=True)
class HfExperts:
    """How transformers' MoE block runs its routed experts on an HF-code stack (``moe_layer``'s ``hf``): the kernel
    (``HF_EXPERTS_OPS``), the byte width of the experts' weight gradients and whether they run (0 on a frozen base
    whose experts peft leaves alone), and per key whether ``_grouped_mm`` takes its fast kernel
    (``grouped_mm_fast``)."""
    kernel: str
    w_bytes: float
    wgrad: Any
    fast: Any = True
    #: per candidate, where DeepSpeed's AutoEP replaces the MoE block (``autoep_rows``): its own grouped kernel runs
    #: the experts whatever ``kernel`` says (``autoep_fast``), behind AutoEP's dispatch
    autoep: Any = False
    #: per key, whether AutoEP's grouped kernel is one launch over every group (``autoep_fast``)
    autoep_fast: Any = True


#: device-to-host syncs of torch's ``_grouped_mm`` fallback per call: ATen native/GroupedMMUtils.h
#: ``_grouped_mm_fallback`` reads the offsets on the host (``offs.value().cpu()``, then ``.item<int>()`` of each from
#: the host copy) and runs ``at::mm_out`` per group; two calls a layer forward (gate/up, down)
GROUPED_MM_FALLBACK_SYNCS = 2.0


def grouped_mm_fast(gpu, math: str, fp32_stream) -> Any:
    """Per key, whether torch's ``_grouped_mm`` (transformers 5.23 integrations/moe.py ``_grouped_mm``) runs its one
    CUTLASS kernel: ATen native/cuda/GroupedBlas.cpp ``_grouped_mm_cuda``: ``use_fast_path =
    _scaled_mm_allowed_device(/*sm90_only*/true, /*sm100_only*/true) && a_b_and_out_are_bf16`` -- an SM90 / SM100
    part (compute capability 9.x, 10.x: planner.hardware.platform ``cuda_compute_capability``) and bf16 operands
    (``math`` "bf16", not over an fp32 stream: transformers casts the input to the weights' dtype). Elsewhere
    ``_grouped_mm_fallback``: a host read of the offsets, then one ``mm`` per group (``GROUPED_MM_FALLBACK_SYNCS``)."""
    cc = cuda_compute_capability(gpu) or 0
    return (cc // 10 in (9, 10)) & (math == "bf16") & ~np.asarray(fp32_stream, dtype=bool)


def autoep_stack(stack) -> bool:
    """Whether ``stack``'s expert parallelism is DeepSpeed's AutoEP: the folded dispatch (``Stack.moe_ep_tp_fold``)
    on the HF model code without transformers' own plans (``Stack.hf_plans``: the HF Trainer's AllToAllEP)."""
    return bool(getattr(stack, "moe_ep_tp_fold", False)) and not getattr(stack, "hf_plans", False)


def autoep_rows(stack, ep) -> Any:
    """Per candidate, where DeepSpeed's AutoEP swaps the model's MoE blocks for its own ``AutoEPMoELayer``
    (deepspeed/module_inject/auto_ep.py ``AutoEP.ep_parser``, at ``expert_parallel.autoep_size`` > 1; EP 1 leaves
    transformers' block and its ``experts_implementation`` to AutoTP): ``autoep_stack`` and ``ep`` > 1."""
    return autoep_stack(stack) & (np.asarray(ep) > 1)


def autoep_fast(gpu, math: str, fp32_stream) -> Any:
    """Per key, whether AutoEP's ``GroupedExperts`` (deepspeed/moe/ep_experts.py, DeepSpeed master as stored with
    module_inject/auto_ep_layer.py @ 0067b11e; ``expert_parallel.use_grouped_mm`` true and
    ``disable_triton_grouped_mm`` false by default, auto_ep_config.py) runs each projection as one grouped kernel:
    below SM90 the accelerator prefers its Triton grouped GEMM (``prefer_triton_grouped_mm``: compute capability
    major < 9, "where torch._grouped_mm falls back to a slow per-group loop"; ops/triton_ops/group_gemm_triton.py),
    from SM90 on ``torch._grouped_mm`` with the operands cast to the routed rows' dtype
    (``_run_experts_grouped_mm``: ``w1.to(cast_dtype)``), whose one-kernel path is ``grouped_mm_fast``'s and whose
    fallback is torch's per-group loop."""
    cc = cuda_compute_capability(gpu) or 0
    return (0 < cc < 90) | grouped_mm_fast(gpu, math, fp32_stream)


#: device-to-host syncs of one AutoEP layer forward at EP > 1: ``compute_split_plan`` (``_split_plan_from_expert_counts``,
#: or ``compute_split_plan_from_expert_indices`` folded over TP) exchanges the per-expert counts by all-to-all and
#: reads both split lists on the host (``torch.stack(...).cpu().tolist()``) to size ``_AllToAllV``; its
#: ``async_split_plan`` (a pinned copy on a side stream) is off by default and refused folded over TP
#: (deepspeed/module_inject/auto_ep_layer.py @ 0067b11e ``AutoEPMoELayer._forward``). The backward reuses the splits
AUTOEP_SPLIT_SYNCS = 1.0


def hf_eager_bwd_bytes(local, tokens, io: int, act_bytes: float, expert_elems, w_bytes: float, wgrad):
    """HBM bytes the eager per-expert loop's backward moves beyond the grouped kernel's, per MoE layer on one rank
    (``HF_EXPERTS_OPS`` "eager"), from the autograd formulas of what its forward indexes (torch 2.13
    tools/autograd/derivatives.yaml):

    * each expert's weights are ``gate_up_proj[expert_idx]`` / ``down_proj[expert_idx]``, a ``select`` of the whole
      3-D parameter: ``select_backward`` writes a zero-filled gradient of the whole parameter and copies the expert's
      slice into it (``W + 2 W / E`` for W the ``local`` experts' bytes), and autograd's input buffer adds the
      ``local`` full-size gradients (3 W each of ``local - 1``): (4 local - 1) W, where the grouped kernel's weight
      gradient GEMM writes its 3-D gradient once (priced with the GEMM);
    * each expert's rows are ``hidden_states[token_idx]``: the index backward zero-fills a gradient of all ``tokens``
      rows (``new_zeros`` + ``index_put_``, the rows' own bytes counted with the permutation) and autograd adds the
      ``local`` of them (3 each of ``local - 1``): (4 local - 3) x tokens x io x act_bytes.

    ``expert_elems``: one expert's weight elements on this rank (gate/up + down); ``wgrad``: 1 where the experts'
    weight gradients run. Checked against the kernels' bytes a real backward moves (tests/data/hf_experts_ops.json:
    tests/test_hfmoe53.py)."""
    local = np.asarray(local, dtype=np.float64)
    W = local * np.asarray(expert_elems, dtype=np.float64) * w_bytes
    rows = np.asarray(tokens, dtype=np.float64) * io * act_bytes
    return (4.0 * local - 3.0) * rows + np.asarray(wgrad, dtype=np.float64) * (4.0 * local - 1.0) * W


def moe_layer(m, T, tp, etp, ep, gpus_per_node, act_bytes: float, gemm: Callable, stack, links,
              wgrad: dict | None = None, launch_s: float = 0.0, recipe: str | None = None,
              bwd_factor: float = 0.0, ep_dom=None, etp_dom=None, a2a_bw=None, disp=None,
              hf: HfExperts | None = None) -> MoELayerTimes:
    """The MLP side of one MoE layer: the busiest expert's grouped GEMMs (``expert_load``: a stated
    ``imbalance``, capped by the capacity factor when tokens beyond it are dropped, the capacity itself
    when padded to it), the router, the shared experts
    (TP-split like a dense MLP), the token dispatch over the
    EP group and, with ETP > 1, the
    all-gather of the dispatched tokens over the ETP group (reduce-scatter back in the combine;
    token_dispatcher.py gathers over the expert-TP group). ``gemm(M, N, K, groups=None)`` is
    the caller's (forward, backward) GEMM timer; ``links`` = (intra bw, inter bw per GPU, intra
    alpha, inter alpha). ``wgrad``: role (``experts_up``, ``experts_down``, ``router``) -> the
    weight-gradient multiplier handed to ``gemm`` as ``wg`` where it differs from the caller's
    default (a frozen base whose experts peft adapts through ``ParamWrapper`` keeps their weight
    gradient: finetune.full_weight_grads). ``bwd_factor``: the layer's backward memory-bound factor, read by the
    ``Stack.moe_switch_mlp`` layer (``switch_mlp_layer``). ``ep_dom``: the EP groups' placement on the NVLink
    domains, (fewest, most, domains) of comm ``ep_domain_members`` for the job's size; None: min(ep, g / etp) on
    every domain (``members_per_node``), as a job whose groups tile the domains. ``etp_dom``: the same for the
    expert-TP groups (``etp_gather_time``). ``a2a_bw``: the NVLink rate of the EP group's all-to-all on its node
    (comm ``group_intra_bw``, shape "all_to_all"); None: ``links``' intra bw. ``disp``: each key's token dispatcher
    (``per_dispatcher``; None: the stack's). ``hf``: transformers' experts kernel on an HF-code stack (``HfExperts``;
    None elsewhere): "grouped_mm" runs each projection as one ``_grouped_mm`` kernel over the local experts' rows
    (``grouped_mm_time``), "eager" one GEMM per expert with the loop's host calls, syncs and backward bytes
    (``HF_EXPERTS_OPS``, ``hf_eager_bwd_bytes``); where DeepSpeed's AutoEP replaces the block (``HfExperts.autoep``)
    its own grouped kernel (``autoep_fast``), host ops and split-plan sync whatever the kernel."""
    if getattr(stack, "moe_switch_mlp", False):  # Megatron-LM 2021-22's top-1 loop: no dispatcher at all
        return switch_mlp_layer(m, T, tp, gpus_per_node, act_bytes, gemm, links, bwd_factor, wgrad, launch_s)
    e = m.moe
    wg = {k: {"wg": v} for k, v in (wgrad or {}).items()}
    h, f = m.hidden, m.ffn_hidden
    # the experts read / write, and the dispatch carries, ``io`` wide tokens: the latent width under
    # LatentMoE (Megatron-Core moe_layer.py projects before ``dispatch_preprocess`` and after
    # ``combine_postprocess``), else h
    io = m.expert_io
    up = m.mlp_up_factor * f
    load = rank_load(e, ep)  # the busiest rank's, at most the EP group's routed rows
    local, tok, wdiv = expert_shapes(T, tp, etp, ep, e.experts, e.top_k, load)
    # every rank of DeepSpeed's AutoTP without EP routes the whole micro-batch, which leaves the HF block and its 3-D
    # experts whole (Stack.tp_splits_experts). Until hfep52 the HF Trainer's EP did too (an older transformers'
    # ep_router + moe_tp_experts: every EP = TP rank its local experts' rows of the whole micro-batch, summed by the
    # TP all-reduce); transformers 5.23 trains through AllToAllEP (Stack.moe_ep_tp_fold)
    allreduce = (np.asarray(ep) == 1) & (not getattr(stack, "tp_splits_experts", True))
    tok = np.where(allreduce, T * e.top_k / e.experts * load, tok)
    w_up, w_down = wg.get("experts_up", {}), wg.get("experts_down", {})
    # the fused grouped MLP (fused_mlp_bytes): the activation and the 16-bit reads of fc2's input cast and of
    # fc1's output-gradient cast move into the GEMM epilogues
    fused = fused_mlp_bytes(m, stack, recipe, T * e.top_k / tp, act_bytes)
    if fused.cast_cut:
        w_up, w_down = {**w_up, "cast_cut": (0.0, fused.cast_cut)}, {**w_down, "cast_cut": (fused.cast_cut, 0.0)}
    split_k = split_quantize_kernels(stack, recipe)  # TE's split_quantize: one quantize kernel chain per expert
    if split_k:
        w_up, w_down = {**w_up, "cast_kernels": split_k}, {**w_down, "cast_kernels": split_k}
    if stack.moe_grouped_gemm:
        ex = [gemm(tok, up / wdiv, io, groups=local, **w_up), gemm(tok, io, f / wdiv, groups=local, **w_down)]
    else:  # one GEMM per expert, one after another
        ex = [tuple(local * x for x in gemm(tok, up / wdiv, io, **w_up)),
              tuple(local * x for x in gemm(tok, io, f / wdiv, **w_down))]
    # one kernel over every local expert's rows (transformers' grouped_mm, AutoEP's GroupedExperts where it replaces
    # the block: HfExperts.autoep); torch's fallback loop, or transformers' eager loop, one GEMM pair an expert
    ae = np.asarray(hf.autoep if hf is not None else False, dtype=bool)
    if hf is not None and (hf.kernel == "grouped_mm" or ae.any()):
        fast = np.where(ae, hf.autoep_fast, hf.fast if hf.kernel == "grouped_mm" else False)
        one = [grouped_mm_time(gemm, local, tok, up / wdiv, io, w_up), grouped_mm_time(gemm, local, tok, io, f / wdiv, w_down)]
        ex = [tuple(np.where(fast, a, b) for a, b in zip(o, lp)) for o, lp in zip(one, ex)]
    if e.routing not in GATELESS_ROUTINGS:  # the router's linear (a weightless gate runs none)
        ex.append(gemm(T, e.experts, h, **wg.get("router", {})))
    if e.latent_size:
        # fc1_latent_proj / fc2_latent_proj: TELinear ``parallel_mode="duplicated"`` (whole weights on
        # every TP rank) on the rank's sequence-parallel share of the tokens (MoE with TP requires SP)
        ex += [gemm(T / tp, io, h), gemm(T / tp, h, io)]
    shared_fc = ((0.0, 0.0), (0.0, 0.0))  # (fc1, fc2) x (forward, backward)
    if e.shared_experts:
        sw = e.shared_ffn_hidden or e.shared_experts * f
        # TP-split as the dense MLP (transformers 5.23 keeps the TP plan on them under EP; until hfep52 whole at
        # EP > 1 on the HF Trainer, an older revision's EP plan), whole where the plan names none (HF_TP_PLANS:
        # Qwen2-MoE's)
        sdiv = hf_ep_tp(m, stack, tp, ep, "shared_experts")
        ex += [gemm(T, m.mlp_up_factor * sw / sdiv, h), gemm(T, h, sw / sdiv)]
        shared_fc = (ex[-2], ex[-1])
    # dispatch (the combine sends as many bytes back) over the EP group; the expert grid places
    # etp innermost, so an EP group has min(ep, g / etp) members per node
    intra, inter, a_in, a_out = links
    tok_rank = T / tp * load  # each rank routes its sequence-parallel share
    tok_all = np.where(allreduce, T * load, tok_rank)  # (every rank's whole micro-batch where it routes all: below)

    def exchange(d: str) -> tuple:
        """(all-to-all s, extra s, chunk-sort bytes) of one MoE layer under dispatcher ``d``"""
        dedup = DISPATCHERS[d]
        # the dispatcher's own NVLink domain (dispatcher_domain): DeepEP's 8-rank nodes, HybridEP's equal domains,
        # both tiling the group (placed uniformly); the all-to-all's the job's, placed rank by rank (ep_dom)
        g_disp = dispatcher_domain(d, ep, etp, gpus_per_node)
        dom = None if d in ("deepep", "hybridep") else ep_dom
        nvl, nic = ep_link_bytes(tok_rank, e.top_k, io, act_bytes, ep, etp, g_disp, dom, dedup, e.experts,
                                 e.groups, e.topk_groups, e.routing)
        lo, hi, doms = ep_domains(ep, etp, g_disp, dom)
        # the NVLink bytes at the EP group's all-to-all rate on its node's links (``a2a_bw``: comm.group_intra_bw's
        # "all_to_all" shape; a mesh's pairs have one link's rate or a few, a switch the GPU's)
        a2a = a2a_time(nvl, nic, ep, hi, intra if a2a_bw is None else a2a_bw, inter, a_in, a_out, domains=doms)
        # HybridEP's routing-map all-gather and probability rows (dispatch_extra_time)
        extra = dispatch_extra_time(d, T / tp, e.experts, e.top_k, ep, hi, etp, g_disp,
                                    links, e.groups, e.topk_groups, load=load, ep_dom=dom)
        return a2a, extra, chunk_sort_bytes(tok_all, e.top_k, io, act_bytes, local, dedup, etp)

    a2a, extra, sort_b = per_dispatcher(stack, disp, exchange)
    etp_ag = etp_gather_time(tok_rank * e.top_k * io * act_bytes * etp, etp, gpus_per_node, links, etp_dom)
    if getattr(stack, "moe_ep_tp_fold", False):
        # AutoEP folded over TP (Stack.moe_ep_tp_fold): ``restore_combined`` all-gathers the TP peers' combined rows
        # (T x top_k x io in all) forward and reduce-scatters their gradient backward -- half the ETP gather's
        # four passes (it is priced in ``a2a``, counted dispatch + combine, forward + backward); nothing at TP 1.
        # transformers' AllToAllEP (Stack.hf_plans): the combine's all-gather over TP forward, the TP chunk's
        # backward all-gathering the row gradients -- the same bytes
        fold = collective_time("all_gather", tok_rank * e.top_k * io * act_bytes * tp, tp, 1, gpus_per_node,
                               intra, inter, a_in, a_out)
        etp_ag = etp_ag + 0.5 * np.where(np.asarray(ep) > 1, fold, 0.0)
    # no dispatch, no ETP gather where every rank holds the whole micro-batch, and the experts' partial outputs
    # are summed by the all-reduce the layer's TP term prices (layer_ops ``tp_comm``: the MLP's T x h all-reduce,
    # forward and backward, over the TP group = the EP group). Until hfstack34 the HF-code stacks priced four
    # Megatron all-to-alls on top of it. The permutation (one argsort, gather and index_add over all T x top_k
    # rows, moe.py ``grouped_mm_experts_forward``) runs on the whole micro-batch; no second, per-source sort
    a2a, extra, etp_ag = (np.where(allreduce, 0.0, x) for x in (a2a, extra, etp_ag))
    tok_rank = tok_all
    # the routed MLP's activation traffic scales with top_k, plus the token permutation
    # on the HF code the gate activation runs on all T x top_k rows, over the expert-TP: whole under EP
    # (grouped_mm_experts_forward keeps the other ranks' rows in S; memory_activations.hf_ep_rank_share) and under DeepSpeed's
    # AutoTP (Stack.tp_splits_experts), over TP under transformers' TP plan (until hfep35 over TP always)
    xdiv = np.where(allreduce, etp, tp)
    mb_bytes = (T * act_bytes * (e.top_k - 1) * m.mlp_act_factor * f / xdiv
                + permute_bytes(tok_rank, e.top_k, io, act_bytes)
                + np.where(allreduce, 0.0, sort_b)
                - fused.act_fwd)  # the top-k activation (the layer's own term counts one copy) runs in fc1's epilogue
    host = MOE_HOST_OPS_GROUPED if stack.moe_grouped_gemm else 4.0 * local
    host = host + grouped_gemm_host_ops(stack, local, launch_s, recipe)
    eager = eager_expert_ops(m, stack, local * tok, f / wdiv, local, disp)
    sync = dispatch_sync_s(stack, e.dropless or not e.pad_to_capacity, launch_s) + eager.syncs * MOE_SYNC_OPS * launch_s
    bwd_b = fused.bwd_epilogue
    sync_base, bwd_b_base = sync, bwd_b
    if hf is not None:
        # transformers' experts kernel: its host calls and syncs as counted (HF_EXPERTS_OPS). Each sync drains the
        # queue; past an expert's syncs the host dispatches that expert's calls while the GPU has only its GEMMs to
        # run (post_sync_exposed_s, a lower bound as for switch_mlp_layer); the eager backward's full-size gradients
        ops = HF_EXPERTS_OPS[hf.kernel]
        host = ops.host_layer + ops.host_expert * np.asarray(local, dtype=np.float64)
        sync = sync + (ops.syncs_layer + ops.syncs_expert * np.asarray(local, dtype=np.float64)) * MOE_SYNC_OPS * launch_s
        if hf.kernel == "grouped_mm":  # the fallback's host reads of the offsets
            sync = sync + np.where(hf.fast, 0.0, GROUPED_MM_FALLBACK_SYNCS * MOE_SYNC_OPS * launch_s)
        if ops.host_expert:
            sync = sync + local * post_sync_exposed_s(ops.host_expert * launch_s, ex[0][0] / local + ex[1][0] / local)
            bwd_b = bwd_b + hf_eager_bwd_bytes(local, tok_all, io, act_bytes, (up + f) * io / wdiv, hf.w_bytes, hf.wgrad)
        if ae.any():
            # AutoEP's own layer (AutoEPMoELayer._forward: router, sort, count exchange, two _AllToAllV, permute,
            # the grouped projections, activation, unpermute, combine -- the all-to-all MoE layer
            # MOE_HOST_OPS_GROUPED counts), the split plan's host read (AUTOEP_SPLIT_SYNCS), torch's fallback's where
            # its kernel is not one launch; none of transformers' loop calls, syncs or full-size gradients
            ae_sync = (AUTOEP_SPLIT_SYNCS + np.where(hf.autoep_fast, 0.0, GROUPED_MM_FALLBACK_SYNCS)) * MOE_SYNC_OPS * launch_s
            host = np.where(ae, MOE_HOST_OPS_GROUPED, host)
            sync = np.where(ae, sync_base + ae_sync, sync)
            bwd_b = np.where(ae, bwd_b_base, bwd_b)
    return MoELayerTimes(fwd_mlp=sum(p[0] for p in ex), bwd_mlp=sum(p[1] for p in ex), a2a=a2a + etp_ag, a2a_extra=extra,
                         membound_bytes=mb_bytes, host_ops=host + eager.host_ops,
                         sync_s=sync,
                         fwd_shared=shared_fc[0][0] + shared_fc[1][0], eager=eager, bwd_membound_bytes=bwd_b,
                         fwd_shared_fc=(shared_fc[0][0], shared_fc[1][0]), bwd_shared_fc=(shared_fc[0][1], shared_fc[1][1]),
                         kernels=router_kernels(stack, disp))


#: Host ops of Megatron-LM 2021-22's SwitchMLP forward (megatron/model/transformer.py ``SwitchMLP.forward``), counted
#: from the source: per layer the router linear, its softmax, ``torch.max``, two ``empty_like`` outputs and the two
#: ``* max_prob`` products (7); per expert, in the Python loop ``for expert_num, expert in enumerate(self.experts)``,
#: ``max_ind == expert_num``, ``.nonzero()``, the row gather ``hidden_states[local_indices, :]``, the expert
#: ParallelMLP's fc1, bias-GeLU and fc2 and its RowParallelLinear all-reduce, ``output_bias.expand_as`` and the two
#: index writes ``output_total[local_indices, :] = ...`` (10).
SWITCH_HOST_OPS_LAYER = 7.0
SWITCH_HOST_OPS_PER_EXPERT = 10.0


def switch_index_bytes(T, hidden: int, el_bytes: float, experts: int):
    """(forward, backward) HBM bytes of SwitchMLP's row gathers and scatters around its experts for ``T`` tokens on
    one rank (megatron/model/transformer.py, Megatron-LM 2021-22), in units of one ``T x hidden`` tensor, by what
    the ops and their autograd formulas move. Forward: the gather ``hidden_states[idx]`` (read + write, 2 over the
    experts), the writes of each expert's output and expanded bias into ``output_total`` / ``output_bias_total``
    (4), the two ``* max_prob`` products (4): 10. Backward: the two products' input and ``max_prob`` gradients (8);
    per ``index_put_`` the value's gradient gathered (4 over the experts) and, for every write after the first into
    a tensor that now needs a gradient, its ``self`` gradient a full clone with zeros put at the indices
    (``grad.index_put(indices, zeros)``: 2 x 2 (E - 1)); the bias ``expand_as`` summed (1); the gather's backward a
    zero-filled ``T x h`` per expert (``index_backward``: ``zeros_like(self).index_put_(..., accumulate=True)``,
    E, plus its put, 2) and autograd's accumulation of the E gradients of ``hidden_states`` (read 2 + write 1 each of
    E - 1): 8 + 4 + 4 (E - 1) + 1 + E + 2 + 3 (E - 1) = 8 E + 8. E passes over the whole micro-batch where
    Megatron-Core's permutation makes one (``permute_bytes``)."""
    unit = np.asarray(T, dtype=np.float64) * hidden * el_bytes
    return 10.0 * unit, (8.0 * experts + 8.0) * unit


def switch_mlp_layer(m, T, tp, gpus_per_node, act_bytes: float, gemm: Callable, links, bwd_factor: float,
                     wgrad: dict | None = None, launch_s: float = 0.0) -> MoELayerTimes:
    """The MLP side of one Megatron-LM 2021-22 MoE layer, ``SwitchMLP`` (megatron/model/transformer.py, "Routes
    input to one of N MLP experts"; ``--num-experts``), on one rank for ``T`` tokens: the router (a plain
    ``torch.nn.Linear(h, E)`` on every TP rank), softmax and ``torch.max`` (top-1), then a Python loop over all E
    experts, each a whole ``ParallelMLP`` split over the TP group like the dense MLP: for each, ``(max_ind ==
    e).nonzero()``, the routed rows gathered by index, the expert's fc1 / fc2 as their own GEMMs (T / E rows each,
    balanced routing; one after another, so the layer's rows sum to T whatever the imbalance), its output and bias
    written back by index, and the outputs scaled by the routing probability. No token dispatch, no all-to-all, no
    expert parallelism (stack rule ``megatron-lm-ep``), no capacity (every token computed).

    What it costs beyond Megatron-Core's MoE layer: E separate GEMM pairs (no grouped GEMM); the index gathers and
    scatters' bytes (``switch_index_bytes``: 10 x T x h forward, (8 E + 8) x T x h backward, against the
    permutation's 2 (k + 1)); the host's ``SWITCH_HOST_OPS_LAYER`` + E x ``SWITCH_HOST_OPS_PER_EXPERT`` ops; a
    device-to-host sync per expert (``nonzero`` sizes its output on the host: ``MOE_SYNC_OPS`` launches of GPU idle
    each, and the host's ops for that expert beyond its GEMMs' time, ``post_sync_exposed_s``, since past the sync the
    host has no lead); and each expert's TP all-reduce (its RowParallelLinear forward, its ColumnParallelLinear's
    input gradient backward) on its T / E rows, E collectives where the dense MLP runs one: ``tp_split`` the
    latency beyond the one the layer's TP term prices. Until 2026-12-04 (moe30) megatron-lm priced Megatron-Core's
    dispatcher layer (permutation bytes, the ETP all-gather, 4 host ops per expert, no sync): a top-1 8-expert GPT
    (h 2048, f 8192, 24 layers, 2048 tokens a sequence) on H100 per micro-batch is now 195.5 ms at TP 1 mb 4 (was
    169.1), 161.0 at TP 2 (108.6) and 159.4 at TP 8 mb 1 (83.4); with 64 experts x2.4-2.9. No validation row runs it.
    The activations it saves are its own (activations ``switch_mlp_saved_tensors``). ``bwd_factor``: the layer model's backward memory-bound
    factor (layer_ops ``BWD_MEMBOUND_FACTOR``), which ``bwd_membound_bytes`` counts beyond."""
    e = m.moe
    wg = {k: {"wg": v} for k, v in (wgrad or {}).items()}
    h, f, E = m.hidden, m.ffn_hidden, float(e.experts)
    tok = np.asarray(T, dtype=np.float64) / E  # one expert's rows (top-1, balanced)
    one = [gemm(tok, m.mlp_up_factor * f / tp, h, **wg.get("experts_up", {})),
           gemm(tok, h, f / tp, **wg.get("experts_down", {}))]
    router = gemm(T, e.experts, h, **wg.get("router", {}))
    fwd_mlp = E * (one[0][0] + one[1][0]) + router[0]
    bwd_mlp = E * (one[0][1] + one[1][1]) + router[1]
    intra, inter, a_in, a_out = links
    ar = lambda rows: collective_time("all_reduce", rows * h * act_bytes, tp, 1, gpus_per_node,  # noqa: E731
                                      intra, inter, a_in, a_out)
    tp_split = E * ar(tok) - ar(np.asarray(T, dtype=np.float64))
    fwd_b, bwd_b = switch_index_bytes(T, h, act_bytes, e.experts)
    host_e = SWITCH_HOST_OPS_PER_EXPERT * launch_s
    sync = E * (MOE_SYNC_OPS * launch_s + post_sync_exposed_s(host_e, one[0][0] + one[1][0]))
    return MoELayerTimes(fwd_mlp=fwd_mlp, bwd_mlp=bwd_mlp, a2a=0.0, membound_bytes=fwd_b,
                         host_ops=SWITCH_HOST_OPS_LAYER + E * SWITCH_HOST_OPS_PER_EXPERT, sync_s=sync,
                         bwd_membound_bytes=bwd_b - bwd_factor * fwd_b, tp_split=tp_split)
