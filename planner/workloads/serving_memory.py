"""Serving memory: the bytes a served LLM's weights and KV cache take on one GPU of a TP group —
the stored weight formats (``WEIGHT_FORMATS``: bf16 / fp16, fp8, int8 W8A8, int4 AWQ / GPTQ, MXFP4
experts), the parameters a quantised checkpoint keeps in 16 bits (``quantised_params``), the weights
per GPU (``weight_bytes_per_gpu``: replicated linears, MLA's 16-bit W_UK / W_UV copies, Marlin's
MXFP4 padding), the KV cache per token and per sequence (``kv_bytes_per_token``,
``kv_bytes_per_sequence``; sliding-window / chunked local layers as each engine keeps them,
``KVLayout``) and the shared prompt prefix held once per replica (``shared_prefix``,
``kv_prefix_bytes``). Sources are in each docstring and in planner/workloads/serving.py's module
docstring ("KV cache per token", "Weights", "Sliding-window and chunked local attention", "Shared
prompt prefix").

The iteration model (planner/workloads/serving_iteration.py) reads these bytes every step; the
serving planner (planner/workloads/serving.py) sizes batches from them. This module imports neither.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import numpy as np

from planner.errors import InputError
from planner.hardware.efficiency import gpu_family
from planner.model.activations_hf import spec_model_type
from planner.model.serving_efficiency import LocalKV, ServingEfficiency, engine_efficiency, job_efficiency
from planner.simulate.serving import BlockCost
from planner.spec import ServingSpec
from planner.spec.params import count_params, norm_params, router_params
from planner.vocab import SERVE_ALL2ALL, SERVE_OVERLAP

GiB = 2**30
#: int4 group size: one scale (and zero point) per 128 weights along the input dimension, the default
#: of AutoAWQ (``q_group_size=128``) and GPTQModel / AutoGPTQ (``group_size=128``)
INT4_GROUP = 128
#: MX block size: one E8M0 scale per 32 elements (OCP Microscaling Formats v1.0, Table 1: k = 32 for MXFP4)
MX_BLOCK = 32
#: bytes of a parameter a quantised checkpoint keeps unquantised (bf16 / fp16): the embedding table,
#: the LM head, the norms and the MoE router (``quantised_params``)
BYTES_16BIT = 2.0


@dataclass(frozen=True)
class WeightFormat:
    """How a serving precision stores one quantised linear weight: ``data`` bytes per weight, plus
    ``scale`` bytes (scale and zero point) per group of ``group`` inputs of each output row; ``group``
    0 = one group per output row (per-channel scales)."""
    data: float
    scale: float = 0.0
    group: int = 0
    #: which weights the checkpoint stores in the format: "linear" = every linear of the transformer blocks
    #: (``quantised_params``), "experts" = the MoE routed experts only, every other linear in 16 bits
    scope: str = "linear"


#: the stored formats, as vLLM creates the parameters of a quantised ``LinearBase``:
#:
#: * bf16 / fp16: the weight alone (no scales).
#: * fp8 (W8A8 FP8; vllm/model_executor/layers/quantization/fp8.py ``Fp8LinearMethod.create_weights``):
#:   an ``float8_e4m3fn`` weight (1 B) and a per-tensor fp32 ``weight_scale`` per logical shard (q, k,
#:   v; gate, up) — a few numbers per layer, not counted; DeepSeek-style 128 x 128 block scales would
#:   add 4/16384 B per weight, not counted either. The same for ModelOpt / TensorRT-LLM FP8
#:   (``FP8_DEFAULT_CFG``: ``"axis": None``, per tensor).
#: * int8 (W8A8 INT8, SmoothQuant; vLLM compressed-tensors ``CompressedTensorsW8A8Int8.create_weights``):
#:   an int8 weight (1 B) and, with the channel strategy, one fp32 ``weight_scale`` per output row
#:   (``ChannelQuantScaleParameter`` of shape (rows, 1)); ModelOpt ``INT8_SMOOTHQUANT_CFG`` quantises
#:   weights per output channel too (``"axis": 0``). 4 B per row of ``row_inputs`` weights
#:   (``quantised_weight_bytes``).
#: * int4 (W4A16, AWQ layout as vLLM loads it, vllm/model_executor/layers/quantization/awq.py
#:   ``AWQLinearMethod.create_weights``): ``qweight`` 8 weights per int32 (0.5 B), ``scales`` one
#:   fp16 per (group of 128 inputs, output) (2/128 B) and ``qzeros`` one 4-bit zero per (group,
#:   output) packed 8 per int32 (0.5/128 B): 0.5195 B. GPTQ with symmetric quantisation under
#:   Marlin keeps no zeros (0.5156 B, 0.8% less).
#: * mxfp4 (OCP Microscaling Formats v1.0: FP4 E2M1 elements, one shared E8M0 scale per block of 32): 0.5 B
#:   + 1/32 B = 0.53125 B, on the MoE experts only -- gpt-oss's released checkpoints and vLLM's ``Mxfp4Config``
#:   (vllm/model_executor/layers/quantization/mxfp4.py: ``Mxfp4MoEMethod`` for ``FusedMoE``, the unquantised
#:   method for every ``LinearBase``, so attention projections stay bf16). Weight-only on the GEMM side
#:   (``COMPUTE_DTYPE``: bf16 math, as vLLM's Hopper / Ampere MXFP4 MoE kernels run it); Blackwell's native
#:   FP4 tensor-core path is not modelled (its GEMMs would be faster).
#: Every one applies to the transformer blocks' linear weights only (``quantised_params``).
WEIGHT_FORMATS = {"bf16": WeightFormat(2.0), "fp16": WeightFormat(2.0), "fp8": WeightFormat(1.0),
                  "int8": WeightFormat(1.0, scale=4.0), "int4": WeightFormat(0.5, scale=2.0 + 0.5, group=INT4_GROUP),
                  "mxfp4": WeightFormat(0.5, scale=1.0, group=MX_BLOCK, scope="experts")}


def quantised_weight_bytes(precision: str, row_inputs: float | None = None) -> float:
    """Bytes one quantised linear weight occupies with its share of the scales: ``data`` +
    ``scale / group`` (per-channel formats: ``scale / row_inputs``, the inputs one output row
    holds; not counted when ``row_inputs`` is None).

    >>> quantised_weight_bytes("int4"), quantised_weight_bytes("fp8")
    (0.51953125, 1.0)
    >>> quantised_weight_bytes("int8", 4096) * 4096  # 4096 int8 weights + one fp32 scale
    4100.0
    """
    f = WEIGHT_FORMATS[precision]
    group = f.group or row_inputs
    return f.data + (f.scale / group if f.scale and group else 0.0)


#: bytes per parameter by precision where the model's shapes are unknown (generic models): the
#: weight + its group scales (per-channel scales not counted)
WEIGHT_BYTES = {p: quantised_weight_bytes(p) for p in WEIGHT_FORMATS}
KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}
RESERVED_BYTES = 1.0 * GiB  # CUDA context, activation workspace, CUDA graphs (vLLM profiles ~1 GiB)


@dataclass(frozen=True)
class ReplicaSplit:
    """How one serving replica's ``gpus`` GPUs (one node's at most; an expert-parallel one may span whole nodes,
    ``nodes_per_replica``, serveep49) share an LLM.

    * Tensor parallel (``ep`` False; vLLM ``--tensor-parallel-size gpus``): every linear, every MoE expert and the KV
      heads split ``gpus`` ways; one scheduler and one KV cache for the replica's sequences.
    * Expert parallel with data-parallel attention (``ep`` True, MoE models only; vLLM ``--data-parallel-size gpus
      --enable-expert-parallel`` at TP 1, docs.vllm.ai "Expert Parallel Deployment" and "Data Parallel Deployment";
      SGLang ``--tp gpus --ep-size gpus --enable-dp-attention``): each GPU keeps E / ``gpus`` of every MoE layer's
      routed experts whole (vLLM ``FusedMoE``'s ``determine_expert_map``: ``local_num_experts = global // ep_size``)
      and every other weight whole (attention, dense layers, shared experts, embeddings: TP 1), and is a DP rank with
      its own scheduler, its own sequences and their KV cache (a token's KV lives on one GPU, whole: MLA's latent is
      no longer kept on every GPU as under TP). The DP ranks step together ("forward passes must be aligned", the
      DP deployment page) and exchange tokens at every MoE layer (``serving_iteration.ep_exchange_time``).

    ``attn_tp``: the TP degree of attention and the dense weights; ``dp``: the attention DP ranks;
    ``expert_tp``: the ways each expert's width is split (``mxfp4_expert_pad``); ``all2all``: an EP replica's token
    exchange (vLLM ``--all2all-backend``, planner/workloads/serving_iteration.py ``EP_ALL2ALL``; None on TP);
    ``overlap``: its steps split into two overlapped micro-batches (``vocab.SERVE_OVERLAP`` "two_batch":
    serving_iteration.py ``BATCH_OVERLAP``; False on TP).

    >>> ReplicaSplit(8, ep=True).attn_tp, ReplicaSplit(8, ep=True).dp, ReplicaSplit(8).attn_tp
    (1, 8, 8)
    """
    gpus: int
    ep: bool = False
    all2all: Optional[str] = None
    overlap: bool = False

    @property
    def attn_tp(self) -> int:
        return 1 if self.ep else self.gpus

    @property
    def dp(self) -> int:
        return self.gpus if self.ep else 1

    @property
    def expert_tp(self) -> int:
        return 1 if self.ep else self.gpus


def replicas_per_node(gpus: int, gpus_per_node: int) -> int:
    """Replicas of ``gpus`` GPUs one ``gpus_per_node``-GPU node holds: g // gpus, and 1 for a replica over several
    nodes (an expert-parallel one, serveep49: it rents ``nodes_per_replica`` whole nodes).

    >>> replicas_per_node(2, 8), replicas_per_node(16, 8)
    (4, 1)
    """
    return max(gpus_per_node // gpus, 1)


def nodes_per_replica(gpus: int, gpus_per_node: int) -> int:
    """Whole nodes one replica of ``gpus`` GPUs spans: 1 up to a node, ceil(gpus / g) past it (vLLM's wide EP:
    ``--data-parallel-size`` over nodes of ``--data-parallel-size-local`` ranks each, docs.vllm.ai "Data Parallel
    Deployment"; serveep49).

    >>> nodes_per_replica(8, 8), nodes_per_replica(32, 8)
    (1, 4)
    """
    return -(-gpus // gpus_per_node)


def replica_nodes(replicas: int, gpus: int, gpus_per_node: int) -> int:
    """Nodes ``replicas`` replicas of ``gpus`` GPUs rent: whole nodes, ``replicas_per_node`` a node, each replica's
    ``nodes_per_replica``. The one count every serving cost reads (until serveep49 each site divided by g // tp, which
    a replica wider than a node made 0).

    >>> replica_nodes(5, 2, 8), replica_nodes(3, 16, 8)
    (2, 6)
    """
    return -(-replicas // replicas_per_node(gpus, gpus_per_node)) * nodes_per_replica(gpus, gpus_per_node)


def split_nodes(prefill: int, prefill_gpus: int, decode: int, decode_gpus: int, gpus_per_node: int) -> int:
    """Nodes a prefill-decode split of ``prefill`` replicas of ``prefill_gpus`` GPUs and ``decode`` of ``decode_gpus``
    rents (disaggep52: each side may run its own layout): all its GPUs within one node, that node; one layout,
    ``replica_nodes`` of them all (pd51's count); two whose replicas each divide a node, the GPUs packed into whole
    nodes; else each side's own nodes. The one count the KV link reads too (serving_screen ``kv_link``: NVLink on one
    node, else the NIC): until QA 104 a TP-2 prefill and a TP-4 decode replica on a 6-GPU node crossed NVLink (one
    node) and were billed two.

    >>> split_nodes(1, 2, 3, 2, 8), split_nodes(1, 4, 2, 2, 8), split_nodes(1, 8, 2, 16, 8), split_nodes(1, 2, 1, 4, 6)
    (1, 1, 5, 1)
    """
    if prefill * prefill_gpus + decode * decode_gpus <= gpus_per_node:  # every replica fits the one node, as it lies
        return 1
    if prefill_gpus == decode_gpus:
        return replica_nodes(prefill + decode, prefill_gpus, gpus_per_node)
    if all(g <= gpus_per_node and gpus_per_node % g == 0 for g in (prefill_gpus, decode_gpus)):
        return -(-(prefill * prefill_gpus + decode * decode_gpus) // gpus_per_node)
    return (replica_nodes(prefill, prefill_gpus, gpus_per_node)
            + replica_nodes(decode, decode_gpus, gpus_per_node))


def replica_split(s: ServingSpec, tp: int) -> ReplicaSplit:
    """The :class:`ReplicaSplit` of an option of ``tp`` GPUs a replica whose serving spec ``s`` the planner made for it
    (``serving.expert_parallel``, ``serving.all2all_backend`` and ``serving.batch_overlap`` set per option by the
    search: planner/workloads/serving.py ``serving_splits``; an EP replica's exchange unset is vLLM's default, the first
    of ``vocab.SERVE_ALL2ALL``, its overlap unset off, the engines' default)."""
    ep = bool(s.expert_parallel) and tp > 1
    return ReplicaSplit(tp, ep, (s.all2all_backend or SERVE_ALL2ALL.names[0]) if ep else None,
                        ep and s.batch_overlap == SERVE_OVERLAP.names[1])


def kv_bytes_per_token(m, kv_precision: str, tp: int = 1, dp: int = 1) -> float:
    """KV-cache bytes one token occupies on one GPU of a TP group: 2 x L x kv_heads/tp x d x bytes
    (at least one KV head per GPU: vLLM replicates KV heads when tp > kv_heads). ``dp``: the data-parallel
    attention ranks of an expert-parallel replica (:class:`ReplicaSplit`), each holding its own sequences' KV whole:
    a token's KV is on one of the ``dp`` GPUs, so the replica's mean per GPU is the whole token's / dp.

    Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2: ``model.mla``) caches the compressed latent
    c_kv and the shared RoPE key, not per-head K and V: L x (kv_lora_rank + qk_rope_head_dim) x bytes
    (DeepSeek-V2, arXiv 2405.04434 §2.1.3 and Table 1: "(d_c + d_h^R) l" elements per token; vLLM's MLA
    backends cache that one latent per layer, whole on every TP rank). Counting 128 heads of full K and V
    made DeepSeek-V3's cache 2,928 KiB a token instead of 34 KiB (fp8), ~85x."""
    if getattr(m, "mla", None) is not None:
        return float(m.layers * (m.mla.kv_lora_rank + m.mla.qk_rope_head_dim) * KV_BYTES[kv_precision]) / dp
    heads_per_gpu = max(m.kv_heads / tp, 1.0)
    return 2.0 * m.layers * heads_per_gpu * m.head_dim * KV_BYTES[kv_precision] / dp


@dataclass(frozen=True)
class KVLayout:
    """One sequence's KV cache on one GPU of a TP group for a model with local (sliding-window or
    chunked) attention layers, as an engine keeps it (``ServingEfficiency.local_kv``,
    planner/model/serving_efficiency.py :class:`LocalKV`). ``layer_bytes``: one layer's KV of one
    token (``kv_bytes_per_token`` / layers); ``global_slots`` / ``local_slots``: the layers that keep
    the whole context / only the window — vLLM pads each kind to whole KV-cache groups, so these
    may exceed the layer counts; ``window``: the local layers' window (or chunk) in tokens."""
    layer_bytes: float
    global_layers: int
    local_layers: int
    global_slots: int
    local_slots: int
    window: int
    kind: str  # "sliding" | "chunked"
    rule: LocalKV

    def local_tokens(self, ctx):
        """Tokens a local layer keeps at context ``ctx``: min(ctx, w). Sliding: the last w (vLLM
        frees whole blocks before ``computed - w + 1``, so up to one more block is held: counted
        by the simulation's blocks, not here). Chunked: the current chunk's ``ctx mod w`` tokens,
        taken at its peak, min(ctx, w) — exact for ctx <= w, otherwise an upper bound (w/2 on
        average over a sequence's positions): the batch must fit at every point of a sequence."""
        return np.minimum(np.asarray(ctx, dtype=np.float64), float(self.window))

    def seq_bytes(self, ctx, shared: int = 0):
        """KV bytes of one sequence at context ``ctx`` on one GPU:

        * ``window``: layer_bytes x (global_slots x ctx + local_slots x min(ctx, w));
        * ``pool_ratio`` (two fixed pools, local = ratio r x full tokens): the share of the memory a
          sequence uses up, layer_bytes x (G + r S) x max(ctx, min(ctx, w) / r) — the full pool
          runs out first when ctx > min(ctx, w) / r, else the local one (G, S: the layer counts);
        * ``full``: every layer keeps the whole context, layer_bytes x layers x ctx.

        ``shared``: tokens of a prompt prefix every sequence shares (``shared_prefix``): the layers
        that keep the whole context hold its KV once per replica (:meth:`prefix_bytes`), so a sequence
        holds ctx - shared of them. The local layers keep their window per sequence, the prefix's part
        of it included: a sliding layer's prefix blocks are shared only while the prefix is still in the
        window (context < shared + w), not counted — an upper bound, exact past that point."""
        c = np.asarray(ctx, dtype=np.float64)
        g = c - shared  # the whole-context layers' tokens of this sequence's own
        r = self.rule
        if r.rule == "pool_ratio":
            return (self.layer_bytes * (self.global_layers + r.ratio * self.local_layers)
                    * np.maximum(g, self.local_tokens(c) / r.ratio))
        if r.rule == "full":
            return self.layer_bytes * (self.global_layers + self.local_layers) * g
        return self.layer_bytes * (self.global_slots * g + self.local_slots * self.local_tokens(c))

    def prefix_bytes(self, shared: int) -> float:
        """KV bytes on one GPU of a ``shared``-token prefix held once per replica (:meth:`seq_bytes`):
        the whole-context layers' (``window``: the global slots; ``full``: every layer;
        ``pool_ratio``: its tokens of the full pool, as the share of memory they use up)."""
        r = self.rule
        if r.rule == "pool_ratio":
            return self.layer_bytes * (self.global_layers + r.ratio * self.local_layers) * shared
        if r.rule == "full":
            return self.layer_bytes * (self.global_layers + self.local_layers) * shared
        return self.layer_bytes * self.global_slots * shared

    def block_cost(self, pp: int = 1) -> tuple[BlockCost, float]:
        """The simulation's view (planner.simulate.serving.BlockCost) and the bytes of one unit
        of its pool (per token of a block, per GPU of a ``pp``-stage replica). ``window``: one
        unit = one layer's block, ``global_slots`` units per new block of context and
        ``local_slots`` more while the window still grows (vLLM's exact rule); ``full``: one unit =
        every layer's block; ``pool_ratio``: one unit = 1/q of a layer's block (r = p/q) and
        q G + p S units per new block — the full pool taken as the one that runs out (contexts
        over w / r), the local pool's limit at shorter contexts not simulated."""
        if self.rule.rule == "full":
            return BlockCost(), self.layer_bytes * (self.global_layers + self.local_layers) / pp
        if self.rule.rule == "pool_ratio":
            fr = Fraction(self.rule.ratio).limit_denominator(64)
            return (BlockCost(self.global_layers * fr.denominator + self.local_layers * fr.numerator),
                    self.layer_bytes / fr.denominator / pp)
        return BlockCost(self.global_slots, self.local_slots, self.window), self.layer_bytes / pp

    def describe(self, ctx: int) -> str:
        """The serve output's assumption line."""
        w = f"{self.window:,}"
        if self.kind == "chunked":
            what = f"chunked local attention ({w}-token chunks): they keep the current chunk (at most {w} tokens)"
        else:
            what = f"sliding-window ({w} tokens): they keep the last {w} tokens"
        if self.rule.rule == "full":
            what += " in attention, but the engine's KV cache keeps the whole context"
        elif self.rule.rule == "pool_ratio":
            what += (f", in a separate pool of {self.rule.ratio:g} x the full layers' tokens (memory split at start-up: "
                     "the pool that fills first sets the batch)")
        pad = (f"; padded to {self.global_slots} + {self.local_slots} layers of equal KV-cache groups"
               if (self.global_slots, self.local_slots) != (self.global_layers, self.local_layers)
               and self.rule.rule == "window" else "")
        full = self.layer_bytes * (self.global_layers + self.local_layers) * ctx
        kept = float(self.seq_bytes(ctx))
        return (f"KV cache: {self.local_layers} of {self.global_layers + self.local_layers} layers {what} "
                f"({self.rule.what}){pad}; one sequence at {ctx:,} tokens keeps "
                + (f"{kept / 2**20:,.0f} MiB of KV per GPU at TP1 instead of {full / 2**20:,.0f} MiB" if kept < full else
                   f"{kept / 2**20:,.0f} MiB of KV per GPU at TP1, no less than with full attention at this context"))


def _vllm_group_slots(n_global: int, n_local: int) -> tuple[int, int]:
    """Layer slots per kind after vLLM's KV-cache grouping (vllm/v1/core/kv_cache_utils.py
    ``_get_kv_cache_groups_uniform_page_size``): group size = the fewer layers of the two kinds (the
    more when more < 1.5 x fewer); each kind padded to whole groups.

    >>> _vllm_group_slots(10, 52), _vllm_group_slots(12, 12), _vllm_group_slots(0, 32)
    ((10, 60), (12, 12), (0, 32))
    """
    if not n_global or not n_local:
        return n_global, n_local
    lo, hi = min(n_global, n_local), max(n_global, n_local)
    g = hi if hi < 1.5 * lo else lo
    return -(-n_global // g) * g, -(-n_local // g) * g


def kv_layout(m, kv_precision: str, tp: int = 1, local_kv: Optional[LocalKV] = None,
              dp: int = 1) -> Optional[KVLayout]:
    """The :class:`KVLayout` of a model with sliding-window / chunked layers (``local_layers`` with a
    ``sliding_window``), kept as ``local_kv`` says (default: vLLM's); None for a model without them and
    for MLA models (their one latent per layer is kept whole: unchanged). ``dp``: as ``kv_bytes_per_token``'s."""
    n_local = m.local_layers if getattr(m, "sliding_window", None) else 0
    if not n_local or getattr(m, "mla", None) is not None:
        return None
    # chunked layers may be kept otherwise than sliding ones (LocalKV.chunked: vLLM 0.10.1-0.12.x keeps Llama 4 whole),
    # and an engine may pool only some families' local layers (LocalKV.families: SGLang's hybrid-SWA architectures)
    rule = (local_kv or engine_efficiency("vllm").local_kv).for_model(m.local_attention, spec_model_type(m))
    n_global = m.layers - n_local
    gs, ls = _vllm_group_slots(n_global, n_local) if rule.pad_groups else (n_global, n_local)
    return KVLayout(layer_bytes=kv_bytes_per_token(m, kv_precision, tp, dp) / m.layers, global_layers=n_global,
                    local_layers=n_local, global_slots=gs, local_slots=ls, window=int(m.sliding_window),
                    kind=m.local_attention, rule=rule)


def kv_bytes_per_sequence(m, kv_precision: str, ctx, tp: int = 1, local_kv: Optional[LocalKV] = None,
                          shared: int = 0, dp: int = 1):
    """KV bytes one sequence at context ``ctx`` keeps on one GPU of a TP group: ``kv_bytes_per_token``
    x ctx (every layer keeps the whole context), or for a model with local layers the global layers'
    ctx tokens and the local layers' window (:meth:`KVLayout.seq_bytes`). ``shared``: tokens of a
    prefix held once per replica (``shared_prefix``, :func:`kv_prefix_bytes`), not by the sequence. ``dp``: as
    ``kv_bytes_per_token``'s (the replica's mean per GPU)."""
    lay = kv_layout(m, kv_precision, tp, local_kv, dp)
    if lay is None:
        return kv_bytes_per_token(m, kv_precision, tp, dp) * (ctx - shared)
    return float(lay.seq_bytes(ctx, shared))


def kv_prefix_bytes(m, kv_precision: str, shared: int, tp: int = 1, local_kv: Optional[LocalKV] = None) -> float:
    """KV bytes on one GPU of a TP group of a ``shared``-token prefix every sequence reuses, held once
    per replica: ``kv_bytes_per_token`` x shared, or the whole-context layers' share for a model with
    local layers (:meth:`KVLayout.prefix_bytes`). An expert-parallel replica's data-parallel attention ranks are
    engines of their own, each with its own prefix cache (vLLM runs one "core engine" per DP rank): each holds the
    prefix whole, so it takes ``tp`` = 1's bytes on every GPU, whatever ``dp``."""
    lay = kv_layout(m, kv_precision, tp, local_kv)
    if lay is None:
        return kv_bytes_per_token(m, kv_precision, tp) * shared
    return float(lay.prefix_bytes(shared))


def shared_prefix(s: ServingSpec, eff: Optional[ServingEfficiency] = None) -> int:
    """Tokens of every prompt the engine's prefix cache serves: the whole blocks of
    ``serving.shared_prefix_tokens`` (``ServingEfficiency.prefix``: vLLM hashes full 16-token blocks,
    TensorRT-LLM reuses 32-token blocks, SGLang's radix tree matches any token). They are prefilled
    once per replica and their KV held once per replica; the prefix's partial last block is
    recomputed and held by every sequence (planner.model.serving_efficiency.PrefixCache).

    >>> shared_prefix(ServingSpec(prompt_tokens=2560, shared_prefix_tokens=2050))
    2048
    """
    blk = (eff or job_efficiency(s)).prefix.block
    return s.shared_prefix_tokens // blk * blk


def served_model(m):
    """The model an engine serves: ``m`` without its multi-token-prediction modules (``mtp_layers``:
    DeepSeek-V3's one MTP depth). vLLM loads them only as a speculative-decoding
    draft (``--speculative-config``), never in the main model: ``DeepseekV2ForCausalLM.load_weights``
    (vllm/model_executor/models/deepseek_v2.py) skips every checkpoint tensor of an MTP layer
    ("skip spec decode layers for main model", ``get_spec_layer_idx_from_weight_name``), so they take no
    HBM and no step reads or multiplies them. DeepSeek-V3: 682.6B -> 671.0B parameters served, fp8
    weights 637.6 -> 626.8 GiB (79.7 -> 78.4 GiB per GPU at TP8). A model without MTP is returned as is.

    >>> from planner.spec import load_job_dict
    >>> served_model(load_job_dict({"model": {"preset": "deepseek-v3"}}).model).mtp_layers
    0
    """
    if m is None or not getattr(m, "mtp_layers", 0):
        return m
    return m.model_copy(update={"mtp_layers": 0, "mtp_repeated": False})


def quantised_params(m) -> tuple[float, float]:
    """(parameters a quantised checkpoint — int4 AWQ / GPTQ, int8 W8A8, fp8 — stores in its
    quantised format, parameters it keeps in 16 bits).

    Quantised: the linear layers of the transformer blocks (attention projections, MLPs, MoE
    experts). Kept in 16 bits: the token embedding table, the LM head (none of its own when tied
    to the embedding: counted once), the final and per-layer norms, and the MoE router.
    Sources, vLLM: every quantisation config's ``get_quant_method`` returns a quantised method
    for ``LinearBase`` and ``FusedMoE`` layers only — ``Fp8Config`` (quantization/fp8.py:
    ``Fp8LinearMethod`` / ``Fp8MoEMethod``, ``ignored_layers`` unquantised), ``AWQConfig`` /
    ``AWQMarlinConfig`` (awq.py), GPTQ (utils/gptq_utils.py ``get_linear_quant_method``, the LM
    head only with ``lm_head: true`` in the checkpoint's quantize_config) and
    ``CompressedTensorsConfig`` (compressed_tensors/compressed_tensors.py: W8A8 int8 / fp8
    schemes for ``LinearBase``; an embedding only with its own explicit scheme,
    compressed_tensors_embedding.py). ``VocabParallelEmbedding`` and ``ParallelLMHead`` (its
    subclass) are not ``LinearBase``: ``get_quant_method`` returns None for them and they load
    with ``UnquantizedEmbeddingMethod`` (vocab_parallel_embedding.py); vLLM's Mixtral builds its
    router with ``quant_config=None``. Quantisers: NVIDIA ModelOpt (TensorRT-LLM's FP8 / INT8
    SmoothQuant / INT4 AWQ checkpoints) inserts quantisers into linear layers and disables
    ``*lm_head*``, ``*router*``, ``*block_sparse_moe.gate*`` and ``*mlp.gate.*`` in every default
    config (modelopt/torch/quantization/config.py ``_default_disabled_quantizer_cfg``);
    AutoAWQ quantises the named linears of each decoder block (``get_named_linears`` over
    ``get_model_layers``; ``modules_to_not_convert`` leaves Mixtral's ``gate`` router) and
    GPTQModel the modules of its ``layers_node`` blocks, the LM head only on request. Biases
    and q/k norms (< 0.01% of a layer) are counted with the quantised part.

    >>> from planner.spec import load_job_dict
    >>> q, keep = quantised_params(load_job_dict({"model": {"preset": "llama3-70b"}}).model)
    >>> round(keep / 1e9, 2)  # 2 x 128,256 x 8,192 (embedding + untied head) + norms
    2.1
    """
    pc = count_params(m)
    norms = m.layers * max(m.layer_norms, 1) * norm_params(m)
    router = pc.n_moe_layers * m.hidden * m.moe.experts if router_params(m) else 0  # (a weightless gate: none)
    keep = pc.embedding + pc.lm_head + pc.final_norm + norms + router
    return float(pc.total - keep), float(keep)


def weight_bytes(m, precision: str, expert_pad: float = 1.0) -> float:
    """Bytes of the model's weights in ``precision``, the one formula for every precision:
    quantised parameters (``quantised_params``) x ``quantised_weight_bytes`` (per-channel scales
    over rows of ``hidden`` inputs: the width the q/k/v, gate/up and — when q_dim = hidden —
    o_proj rows have; down_proj's rows are ffn wide, so this over-counts its scales, on a term of
    ~0.1%) + the 16-bit rest x 2 B. Generic (non-transformer) models: params x ``WEIGHT_BYTES``.
    ``expert_pad``: the engine's kernel stores the experts-only format's experts padded to this many
    times their parameters (``mxfp4_expert_pad``); 1 = as the checkpoint stores them."""
    if not m.is_transformer:
        return count_params(m).total * WEIGHT_BYTES[precision]
    if WEIGHT_FORMATS[precision].scope == "linear":
        q, keep = quantised_params(m)
    else:
        q, keep = expert_params(m)
        q *= expert_pad
    return q * quantised_weight_bytes(precision, m.hidden) + keep * BYTES_16BIT


def mla_kv_b_params(m) -> float:
    """Parameters of multi-head latent attention's kv_b_proj, whole model: kv_lora_rank x heads x
    (qk_nope_head_dim + v_head_dim) per attention layer (W_UK and W_UV side by side, DeepSeek-V2 §2.1.2;
    vllm/v1/attention/backends/mla/common.py: ``kv_b_proj`` is [W_UK; W_UV] per head) — DeepSeek-V3 1.02B.
    0 without MLA."""
    if getattr(m, "mla", None) is None:
        return 0.0
    a = m.mla
    return float(m.attention_layers * a.kv_lora_rank * m.heads * (a.qk_nope_head_dim + a.v_head_dim))


def mla_absorbed_bytes(m, precision: str) -> float:
    """Bytes of the 16-bit W_UK / W_UV copies vLLM's MLA backends keep beside a quantised kv_b_proj, whole model
    (split over TP by heads, as kv_b_proj is). The absorbed decode multiplies by W_UK_T and W_UV in batched
    matmuls that have no quantised kernel, so ``process_weights_after_loading`` dequantises kv_b_proj to the
    activation dtype and keeps W_UK_T / W_UV as views of that new tensor ("we just store fp16/bf16 copies and
    perform the bmm's in 16-bit", vllm/v1/attention/backends/mla/common.py ``get_and_maybe_dequant_weights``);
    kv_b_proj itself stays, quantised, for the prefill. An unquantised kv_b_proj (bf16 / fp16, or MXFP4, whose
    checkpoints quantise the experts only) is returned as is: the views cost nothing. DeepSeek-V3 fp8: 2.05 GB,
    0.24 GiB a GPU at TP8."""
    f = WEIGHT_FORMATS[precision]
    return mla_kv_b_params(m) * BYTES_16BIT if (f.scope == "linear" and f.data < BYTES_16BIT) else 0.0


def tp_replicated_params(m) -> tuple[float, float]:
    """(quantised, 16-bit) parameters a serving engine keeps whole on every TP rank instead of 1/tp of them
    (vLLM ``ReplicatedLinear``, vllm/model_executor/models/deepseek_v2.py): multi-head latent attention's
    down-projections q_a_proj (h x q_lora_rank) and kv_a_proj_with_mqa (h x (kv_lora_rank + qk_rope_head_dim))
    — quantised linears — on every attention layer, and the MoE router (h x experts, ``DeepseekV2MoE.gate`` /
    ``MixtralMoE.gate`` / ``Qwen3MoeSparseMoeBlock.gate``: ``ReplicatedLinear`` with ``quant_config=None``,
    16-bit) on every MoE layer. Each rank stores them, reads them every step and multiplies every token through
    them: DeepSeek-V3 923.6M + 106.4M parameters, ~0.93 GiB more per GPU at TP8 in fp8 than an even 1/8 share.
    Other replications (KV heads when tp > kv_heads, norms) are < 0.1% of a GPU's weights: not counted."""
    if not m.is_transformer:
        return 0.0, 0.0
    q = 0.0
    if m.mla is not None:
        a = m.mla
        q = float(m.attention_layers * m.hidden * ((a.q_lora_rank or 0) + a.kv_lora_rank + a.qk_rope_head_dim))
    router = float(count_params(m).n_moe_layers * m.hidden * m.moe.experts) if router_params(m) else 0.0
    return q, router


def expert_weight_bytes(m, precision: str, expert_pad: float = 1.0, pc=None) -> float:
    """Bytes of the MoE routed experts (every expert of every MoE layer) as stored: their parameters x
    ``quantised_weight_bytes`` (every format quantises them, ``quantised_params`` / ``expert_params``) x
    ``expert_pad`` (``mxfp4_expert_pad``). 0 for a dense model."""
    return routed_expert_params(m, pc) * quantised_weight_bytes(precision, m.hidden) * expert_pad


def weight_bytes_per_gpu(m, precision: str, tp: int, pp: int = 1, expert_pad: float = 1.0, ep: bool = False) -> float:
    """Weight bytes on one GPU of a tp x pp replica: ``weight_bytes`` / (tp x pp), plus (1 - 1/tp) of the
    parameters every TP rank keeps whole (``tp_replicated_params``; quantised ones in ``precision`` when it
    quantises every linear, else 16-bit, as ``weight_bytes`` stores them) over the pp stages, plus an MLA
    model's 16-bit W_UK / W_UV copies beside a quantised kv_b_proj (``mla_absorbed_bytes``) / (tp x pp).
    What a GPU holds; the iteration model reads it all every step (a decode step reads the copies, not
    kv_b_proj, and a prefill the reverse: over by kv_b_proj's quantised bytes, 0.13 GB of DeepSeek-V3's
    79 GB a GPU at TP8 in fp8).

    ``ep`` (an expert-parallel replica of ``tp`` GPUs, :class:`ReplicaSplit`): the routed experts / tp
    (``expert_weight_bytes``), every other weight whole on every GPU (data-parallel attention at TP 1)."""
    if ep:
        experts = expert_weight_bytes(m, precision, expert_pad)
        return (weight_bytes(m, precision, expert_pad) + mla_absorbed_bytes(m, precision) - experts
                + experts / tp) / pp
    q, keep = tp_replicated_params(m)
    qb = quantised_weight_bytes(precision, m.hidden) if WEIGHT_FORMATS[precision].scope == "linear" else BYTES_16BIT
    return ((weight_bytes(m, precision, expert_pad) + mla_absorbed_bytes(m, precision)) / tp
            + (1.0 - 1.0 / tp) * (q * qb + keep * BYTES_16BIT)) / pp


def _round_up(x: float, k: int) -> float:
    return float(-(-int(math.ceil(x)) // k) * k)


def mxfp4_expert_pad(m, precision: str, se: ServingEfficiency, gpu, tp: int = 1) -> float:
    """How many times its parameters an MXFP4 MoE expert takes in the engine's kernel on ``gpu`` (one TP
    rank's shard: ``ffn_hidden / tp`` wide): vLLM (``ServingEfficiency.mxfp4_marlin``) runs MXFP4 experts
    through Marlin on an NVIDIA GPU outside ``ServingEfficiency.mxfp4_native`` — below compute capability 9, and on
    Hopper too up to vLLM 0.11.0 (serving_efficiency.VLLM_MXFP4_NATIVE_BEFORE_0_11_1) — and Marlin's MoE kernel
    needs n % 256 and k % 128 of each linear, so
    ``Mxfp4MoEMethod.create_weights`` pads the hidden dim to a multiple of 256 and the per-rank intermediate
    dim to a multiple of 128 (vllm/model_executor/layers/quantization/mxfp4.py, MARLIN branch;
    ``get_mxfp4_backend``: Marlin when ``get_device_capability()[0] < 9``): ratio = round_up(h, 256) / h x
    round_up(f / tp, 128) / (f / tp) (h: the experts' input width ``expert_io``). The padded weights are stored, read in decode and multiplied (zeros
    included). gpt-oss-120b on one GPU: 2880 -> 3072 and 2880 -> 2944, 1.090x the experts, 65.9 GiB of
    weights instead of 60.7 — vLLM logs "Model loading took 65.9651 GiB" for it on the Marlin path
    (vllm-project/vllm issue #23278, an H100 without triton_kernels). 1 for every other engine, precision and GPU
    (Hopper's Triton path rounds the intermediate dim to 64 only, which gpt-oss's 2880 already is).

    >>> from planner.spec import load_job_dict
    >>> from planner.model.serving_efficiency import ENGINES
    >>> from hardware_catalog import load_catalog
    >>> m = load_job_dict({"model": {"preset": "gpt-oss-120b"}}).model
    >>> gpus = load_catalog()
    >>> round(mxfp4_expert_pad(m, "mxfp4", ENGINES["vllm"], gpus.gpu("A100-SXM-80GB")), 4)
    1.0904
    >>> mxfp4_expert_pad(m, "mxfp4", ENGINES["vllm"], gpus.gpu("H100-SXM-80GB"))
    1.0
    >>> from planner.model.serving_efficiency import VLLM_MXFP4_NATIVE_BEFORE_0_11_1 as old
    >>> round(mxfp4_expert_pad(m, "mxfp4", ENGINES["vllm"].with_(mxfp4_native=old), gpus.gpu("H100-SXM-80GB")), 4)
    1.0904
    """
    if (precision != "mxfp4" or not se.mxfp4_marlin or m.moe is None or gpu.vendor != "NVIDIA"
            or gpu_family(gpu.name) in se.mxfp4_native):
        return 1.0
    h, f = m.expert_io, m.ffn_hidden / tp  # an expert's input/output width (hidden, or a latent MoE's latent)
    return _round_up(h, 256) / h * _round_up(f, 128) / f


def routed_expert_params(m, pc=None) -> float:
    """Parameters of the MoE routed experts (every expert of every MoE layer); 0 for a dense model."""
    pc = pc or count_params(m)
    return float(pc.n_moe_layers * pc.expert * m.moe.experts) if m.moe is not None else 0.0


def expert_params(m, field: str = "serving.precision") -> tuple[float, float]:
    """(the MoE routed experts' parameters, the rest): what an experts-only format (mxfp4) quantises. A model
    without routed experts has nothing such a checkpoint quantises: refused, not served as bf16 unsaid (``field``:
    where the precision was asked for)."""
    pc = count_params(m)
    experts = routed_expert_params(m, pc)
    if not experts:
        raise InputError(field, f"mxfp4 quantises the MoE experts only (gpt-oss's checkpoints, vLLM "
                                              f"Mxfp4Config); {m.name} has no routed experts: use int4, fp8 or bf16")
    return experts, float(pc.total - experts)
