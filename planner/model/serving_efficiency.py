"""Per-engine efficiency of one LLM serving iteration: what fraction of the GPU's peaks an engine's
decode/prefill step reaches, and what it adds per step on the host.

The roofline of planner/workloads/serving_iteration.py (``IterationModel``) reads these numbers; this module
holds only the parameters, one :class:`ServingEfficiency` per engine in :data:`ENGINES`, each with
what it is and where its value comes from. The GPU's own sustained fractions (large-GEMM
efficiency ``gemm_max``, the attention kernel's ``attn_fwd``) stay in planner.hardware.efficiency's
per-GPU-class priors; the engine parameters here scale on top of them.

Per step (one forward pass of the running batch; ``n`` = tokens in the step, ``c`` = attention
(query, key) pairs):

* GEMMs: ``lin x ceil(n / TILE_ROWS) x TILE_ROWS / (peak_bf16 x fp8 x gemm_max x compute)`` (16-row
  tiles, :data:`WEIGHT_ONLY_TILE_ROWS`, for the weight-only int4 / Marlin kernels) — ``fp8`` is the
  engine's reachable FP8-over-BF16 GEMM speed-up (1 for bf16 weights); the ``(n + n_half)/n``
  factor is the small-M efficiency loss of tile/wave quantisation (a GEMM with ``n`` rows reaches
  ``n / (n + n_half)`` of its large-M rate — the saturating form of Efficiency.gemm_util);
* attention core: ``attn x c / (peak_bf16 x attn_fwd x compute)`` (FlashAttention-class kernel; attention
  runs in bf16 whatever the weight precision);
* memory: ``(weights + KV read/written) / (HBM x hbm)`` — ``hbm`` is the engine's achieved HBM
  fraction for a whole decode step (weights and paged-KV reads, including the small kernels);
* ``host_s``: per-iteration host time not hidden behind the GPU (scheduler, input preparation,
  sampling and detokenisation, CUDA-graph replay), added to every step.

>>> ENGINES["vllm"].fp8 <= 2.0 and ENGINES["tensorrt-llm"].host_s >= 0
True
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

#: where the fitted values come from (benchmarks/validate_serving.py --fit; README "Serving: simulated tail latency")
FIT = ("fitted by benchmarks/validate_serving.py --fit (least squares on log error of the published "
       "runs' throughput / TTFT / E2E, development sources; leave-one-source-out errors in the README's serving section)")


@dataclass(frozen=True)
class LocalKV:
    """How an engine's KV cache keeps the KV of a model's local layers (sliding-window or chunked
    attention: ``ModelSpec.local_layers``, window ``sliding_window``); the global layers always keep
    the whole context. ``rule``:

    * ``"window"``: the local layers hold only the tokens their queries can still see — the last w
      of a sliding window, the current chunk of a chunked layer — freeing blocks as the window
      moves, out of one memory pool shared with the global layers. ``pad_groups``: layers are
      grouped into KV-cache groups of equal size and each kind is padded to whole groups (vLLM's
      ``_get_kv_cache_groups_uniform_page_size``), so a block of either kind costs the same;
    * ``"pool_ratio"``: two fixed pools, full-layer tokens and local-layer tokens = ``ratio`` x the
      full-layer tokens, memory split between them at start-up; a sequence takes c slots of the full
      pool and min(c, w) of the local one, so the pool that runs out first sets the batch;
    * ``"full"``: local layers keep the whole context like global ones (no saving).

    ``chunked``: the rule for *chunked* local layers (``ModelSpec.local_attention`` "chunked", Llama 4) where the
    engine keeps them otherwise than its sliding-window layers (None: this rule for both; :meth:`for_kind`)."""
    rule: str = "window"
    pad_groups: bool = False
    ratio: float = 0.0
    what: str = ""  # the mechanism in a few words, for the serve output's assumption line
    source: str = ""
    chunked: Optional["LocalKV"] = None
    #: the model families the rule holds for, as (transformers ``model_type``, the engine's architecture name)
    #: pairs (planner.model.activations_hf ``spec_model_type``; :data:`SGLANG_HYBRID_SWA`); () for every model. A
    #: model of another family is kept by ``outside`` (:meth:`for_model`)
    families: tuple = ()
    outside: Optional["LocalKV"] = None

    def for_kind(self, kind: str) -> "LocalKV":
        """The rule for local layers of ``kind`` ("sliding" | "chunked", ``ModelSpec.local_attention``)."""
        return self.chunked if kind == "chunked" and self.chunked is not None else self

    def for_model(self, kind: str, family: str) -> "LocalKV":
        """The rule for a model of ``family`` (its transformers ``model_type``) whose local layers are of ``kind``:
        ``for_kind``'s where ``families`` lists the family (or is empty), else ``outside``; ``what`` says which."""
        if not self.families:
            return self.for_kind(kind)
        arch = dict(self.families).get(family)
        if arch is None:
            listed = ", ".join(a for _, a in self.families)
            return replace(self.outside, what=f"{self.outside.what}; {family} is none of the architectures it pools "
                                              f"({listed})")
        rule = self.for_kind(kind)
        return replace(rule, what=f"{rule.what}; {family} runs as {arch}, which it pools")


#: vLLM V1's hybrid KV cache manager (vllm/v1/core/single_type_kv_cache_manager.py; PR #17996, in
#: releases by v0.9.2, whose API docs' FullAttentionSpec already names "the hybrid allocator"; chunked
#: local attention PR #19351): ``SlidingWindowManager.get_num_skipped_tokens`` =
#: max(0, computed - w + 1) tokens before the window, whose whole blocks ``remove_skipped_blocks``
#: frees before each step's allocation, so a sequence at context c holds cdiv(c, bs) - (c - w) // bs
#: blocks of a sliding layer (at most cdiv(w, bs) + 1; ``SlidingWindowSpec.max_memory_usage_bytes``
#: "+1 ... the sliding window may not start from the beginning of the block");
#: ``ChunkedLocalAttentionManager``: every token before the current chunk is skipped. Layers are
#: grouped (vllm/v1/core/kv_cache_utils.py: group size = the fewest layers of one kind, or the most
#: when most < 1.5 x fewest; each kind padded to whole groups). Chunked layers use it by default
#: since PR #29627 (``VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE``, off from PR #21761 of
#: July 2025 until then); ``--disable-hybrid-kv-cache-manager`` and KV connectors without hybrid
#: support turn it off (every layer then keeps the whole context: not modelled).
VLLM_LOCAL_KV = LocalKV(
    "window", pad_groups=True, what="vLLM V1 hybrid KV cache manager",
    source="vllm/v1/core/single_type_kv_cache_manager.py SlidingWindowManager / ChunkedLocalAttentionManager "
           "(PR #17996, by v0.9.2; chunked: PR #19351, on by default since PR #29627); groups: "
           "vllm/v1/core/kv_cache_utils.py")
#: vLLM releases 0.10.1 to 0.12.x turned the hybrid KV cache manager off for a model with chunked local attention
#: (Llama 4): PR #21761 ("[Perf] Disable chunked local attention by default with llama4", merged 2025-07-28, after
#: 0.10.0) sets ``scheduler_config.disable_hybrid_kv_cache_manager = True`` when ``model_config.attention_chunk_size``
#: is set unless ``VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE`` is 1 (its reason: three ChunkedLocalAttention
#: KV-cache groups built the attention metadata three times, ~2 ms a step), and with the manager off every layer is
#: one full-attention KV-cache group, the whole context. That variable's default is False in the API docs of 0.10.1.1,
#: 0.11.0, 0.11.1 and 0.12.0 (docs.vllm.ai/en/vX/api/vllm/envs) and True in 0.16.0 (PR #29627 flipped it after
#: caching the metadata builds); 0.13.0-0.15.x were not found and are priced as the current release (on). Sliding-window
#: models (gpt-oss, Gemma) keep the hybrid manager in every one of these releases.
VLLM_CHUNKED_HYBRID_OFF = ((0, 10, 1), (0, 13, 0))
VLLM_LOCAL_KV_CHUNKED_OFF = replace(VLLM_LOCAL_KV, chunked=LocalKV(
    "full", what="vLLM 0.10.1-0.12.x: hybrid KV cache manager off for chunked local attention, every layer the whole "
                 "context",
    source="vLLM PR #21761 (VllmConfig: disable_hybrid_kv_cache_manager when attention_chunk_size is set and "
           "VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE is 0, its default in 0.10.1.1-0.12.0's API docs)"))
#: The model families whose local layers SGLang keeps in its SWA memory pool, as (transformers ``model_type``, SGLang's
#: architecture name): sgl-project/sglang python/sglang/srt/configs/model_config.py ``_derive_hybrid_model`` sets
#: ``is_hybrid_swa`` only where ``is_hybrid_swa_model(hf_config.architectures)`` lists the checkpoint's architecture
#: (read at the stored main of 2026: Llama4ForConditionalGeneration, GptOssForCausalLM, MiMoV2(Flash)ForCausalLM,
#: Step3p5ForCausalLM, Gemma4*, DeepseekV4ForCausalLM, LagunaForCausalLM, or a config with ``is_hybrid_swa``; an
#: earlier version, as a fork copies it, listed Llama 4, gpt-oss, MiMo-V2-Flash and Step-3.5 only), and
#: model_executor/pool_configurator.py ``create_memory_pool_configurator`` builds the SWA pool only then. Every other
#: model with sliding-window layers -- Gemma 2 / 3 (whose server_args branch even sets ``disable_hybrid_swa_memory``:
#: "FIXME: https://github.com/sgl-project/sglang/pull/7367 is not compatible with gemma2 model"), Phi-3 -- keeps one
#: pool, every layer's whole context; the window is applied in the attention backend only (RadixAttention
#: ``sliding_window_size``). SGLang PR #39310 (2026-09-13, adding Spark-X2.5) says it: "``is_hybrid_swa_model()``
#: gates the hybrid SWA memory pool behind a hard-coded architecture allowlist ... every token allocates KV slots in
#: all 36 layers ... attention already honors the sliding window". Of the families the planner maps, Llama 4 (its
#: published checkpoints' architecture is the multimodal Llama4ForConditionalGeneration, whose text model is
#: ``llama4_text``) and gpt-oss are listed; the others SGLang lists are not planner families. Not priced: copies of
#: server_args.py from late 2025 set ``disable_hybrid_swa_memory = True`` for every GptOssForCausalLM run (PR #17630,
#: 2026-01-23, still tells the reader to edit that line to turn the pool on), the current one only with the trtllm_mha
#: attention backend (Blackwell's default for gpt-oss); the releases were not established, so gpt-oss is pooled in
#: every release, as the current one does on Hopper.
SGLANG_HYBRID_SWA = (("llama4_text", "Llama4ForConditionalGeneration"), ("gpt_oss", "GptOssForCausalLM"))
#: SGLang's one KV pool for a model outside :data:`SGLANG_HYBRID_SWA`: every layer the whole context
SGLANG_NOT_HYBRID_SWA = LocalKV(
    "full", what="SGLang without its SWA memory pool (model_config.is_hybrid_swa_model): one pool, every layer the "
                 "whole context",
    source="sglang python/sglang/srt/configs/model_config.py is_hybrid_swa_model (an architecture allowlist); "
           "PR #39310")
#: SGLang's SWA memory pool (python/sglang/srt/model_executor/model_runner.py ``set_num_token_hybrid``,
#: mem_cache/swa_memory_pool.py ``SWAKVPool``; later pool_configurator.py ``HybridSWAPoolConfigurator``): solves
#: swa_tokens x swa_layers + full_tokens x full_layers = the pool's layer-tokens with swa_tokens =
#: ``swa_full_tokens_ratio`` (0.8 by default, server_args.py) x full_tokens; ``--disable-hybrid-swa-memory`` turns
#: it off. Only for :data:`SGLANG_HYBRID_SWA`'s families.
SGLANG_LOCAL_KV = LocalKV(
    "pool_ratio", ratio=0.8, what="SGLang SWA memory pool, swa_full_tokens_ratio 0.8",
    source="sglang python/sglang/srt/model_executor/model_runner.py set_num_token_hybrid, "
           "server_args.py swa_full_tokens_ratio = 0.8; configs/model_config.py is_hybrid_swa_model",
    families=SGLANG_HYBRID_SWA, outside=SGLANG_NOT_HYBRID_SWA)
#: TensorRT-LLM's PyTorch backend with its (V1) KV cache manager keeps every layer's whole context unless the user
#: passes per-layer windows: tensorrt_llm/_torch/pyexecutor/resource_manager.py ``KVCacheManager.__init__``,
#: "Determine max_attention_window_vec": ``if kv_cache_config.max_attention_window is None:
#: self.max_attention_window_vec = [max_seq_len]`` -- one window, the whole sequence, for every layer; the model's
#: own sliding window / chunk is applied in the attention kernel only. Deriving per-layer windows from an HF
#: config's ``layer_types`` came later and only for the V2 manager (tensorrt_llm/_torch/pyexecutor/_util.py
#: ``_derive_layer_type_attention_windows``, whose tests say "V1 manager -> no derivation, window stays unset").
#: The published TensorRT-LLM runs (v1.0 perf-overview, gpt-oss page at 03e27c7d) set no ``max_attention_window``
#: in their ``llm_options``, so their local layers kept the whole context (srv53: held-out trtllm-perf-gptoss
#: median 60 -> 21%; Scout moves only at 20,000 + 2,000 tokens, past its chunk). With windows given, memory is
#: split among one pool per window (docs "KV Cache System"; cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp
#: ``calculateMaxNumBlocks`` / ``BlockManager::calculateWindowSizeToShare``: pool i gets memory M in proportion to
#: w_i x c_i, c_i its layers' bytes a token), which admits M / sum_j c_j min(L, w_j) sequences of length L when
#: the full layers' window (``max_seq_len``) is L: the ``window`` rule; not the default, so not modelled here.
TRTLLM_LOCAL_KV = LocalKV(
    "full", what="TensorRT-LLM KV cache manager without max_attention_window: one window, the whole context",
    source="TensorRT-LLM tensorrt_llm/_torch/pyexecutor/resource_manager.py KVCacheManager: max_attention_window "
           "None -> [max_seq_len] for every layer (V1 manager; per-layer windows only when given, or derived by "
           "the later V2 manager)")


@dataclass(frozen=True)
class PrefixCache:
    """How an engine reuses the KV of a prompt prefix that many requests share (a system prompt):
    ``block`` tokens is the granularity it shares at — only whole blocks of the shared prefix are
    found in the cache (prefilled once, their KV held once per replica); the prefix's last partial
    block is recomputed and held per sequence. ``what`` names the mechanism for the serve output."""
    block: int
    what: str
    source: str = ""


#: vLLM V1 automatic prefix caching, on by default in V1 (``enable_prefix_caching``): full blocks are
#: hashed (vllm/v1/core/kv_cache_utils.py ``hash_block_tokens``, vllm/v1/core/kv_cache_manager.py
#: ``get_computed_blocks``: the longest run of cached full blocks), 16-token blocks by default on CUDA
#: (CacheConfig ``block_size``); a cache hit is reference-counted, so a shared block is held once.
VLLM_PREFIX = PrefixCache(16, "vLLM automatic prefix caching",
                          "vllm/v1/core/kv_cache_manager.py get_computed_blocks; kv_cache_utils.py hash_block_tokens "
                          "(full blocks only); block_size 16")
#: SGLang RadixAttention (Zheng et al., "SGLang", NeurIPS 2024; python/sglang/srt/mem_cache/radix_cache.py):
#: a radix tree over token ids, on by default (``--disable-radix-cache`` turns it off); with the default
#: ``page_size`` 1 (server_args.py) any token of the prefix matches.
SGLANG_PREFIX = PrefixCache(1, "SGLang RadixAttention",
                            "sglang python/sglang/srt/mem_cache/radix_cache.py; server_args.py page_size 1")
#: TensorRT-LLM KV cache reuse: ``KvCacheConfig.enable_block_reuse`` True and ``tokens_per_block`` 32 by
#: default (LLM API reference, KvCacheConfig); filled blocks are stored in a radix search tree and
#: reused by later requests with a matching prefix (docs, "KV Cache System", features/kvcache.html).
#: ``enable_partial_reuse`` copies a partly matching block (compute saved, memory not shared): not
#: modelled, the partial block is recomputed.
TRTLLM_PREFIX = PrefixCache(32, "TensorRT-LLM KV cache reuse",
                            "TensorRT-LLM LLM API KvCacheConfig (enable_block_reuse=True, tokens_per_block=32); "
                            "docs features/kvcache.html")


#: which attention kernel each engine runs on Hopper, the family whose head-dim rates are measured
#: (planner.model.physics.ATTN_HEAD_DIM_REL, FlashAttention-3 paper Fig. 5: at head dim 64 the softmax's
#: exponentials bind as much as the matmuls on an H100, FA3 forward 473 of 616 TFLOP/s at hd 128, 0.77;
#: cuDNN 0.72, FA2 0.89); on other GPUs no head-dim ratio is measured and none is applied.
ATTN_KERNEL_SOURCES = {
    "vllm": "fa3: vLLM's FlashAttention backend runs vllm-flash-attn version 3 on compute capability 9 "
            "(vllm/v1/attention/backends/fa_utils.py get_flash_attn_version), the only version with attention "
            "sinks (FlashAttentionImpl: 'Sinks are only supported in FlashAttention 3'), so gpt-oss runs it too",
    "sglang": "fa3: SGLang's default attention backend on Hopper (docs, attention backends: 'Hopper (H100, "
              "H200): Defaults to fa3')",
    "tensorrt-llm": "fa3 (assumption): TensorRT-LLM's own context FMHA kernels are not in the measured table; "
                    "FA3's head-dim ratio is taken, the bound (the SFU's exponential rate) being the GPU's",
}


@dataclass(frozen=True)
class ServingEfficiency:
    hbm: float  # achieved fraction of HBM peak bandwidth over a decode step (weights + KV)
    fp8: float  # reachable FP8 GEMM speed-up over BF16 (catalog peaks say 2.0)
    host_s: float  # host/scheduler seconds per iteration not overlapped with the GPU
    compute: float = 1.0  # the engine's GEMM + attention rate relative to the GPU class's gemm_max / attn_fwd
    sources: dict = field(default_factory=dict, compare=False)
    #: how the KV of sliding-window / chunked layers is kept (:class:`LocalKV`)
    local_kv: LocalKV = VLLM_LOCAL_KV
    #: how a prompt prefix shared by every request is cached (:class:`PrefixCache`)
    prefix: PrefixCache = VLLM_PREFIX
    #: the attention kernel, as planner.model.physics names it (``ATTN_HEAD_DIM_REL``): its rate at the
    #: model's head dim relative to head dim 128 scales the attention core (:data:`ATTN_KERNEL_SOURCES`)
    attn_kernel: str = "fa3"
    #: MXFP4 MoE experts run through Marlin (padded dims) on NVIDIA GPUs outside ``mxfp4_native``
    #: (planner.workloads.serving_memory.mxfp4_expert_pad): vLLM's ``get_mxfp4_backend``; not known for the others
    mxfp4_marlin: bool = False
    #: the GPU families (planner.hardware.efficiency.gpu_family) where an ``mxfp4_marlin`` engine runs MXFP4 experts
    #: through another kernel (triton_kernels, FlashInfer) at the checkpoint's dims (:data:`VLLM_MXFP4_NATIVE`)
    mxfp4_native: tuple = ()
    #: the engine release (a version tuple) from which ``mxfp4_native`` holds; before it the families in
    #: ``mxfp4_native_before`` (() for none: the engine's kernels did not change with a release)
    mxfp4_native_since: tuple = ()
    mxfp4_native_before: tuple = ()
    #: (since, until, LocalKV): releases in [since, until) kept local layers' KV by that rule instead of ``local_kv``
    #: (:data:`VLLM_CHUNKED_HYBRID_OFF`)
    local_kv_releases: tuple = ()
    #: how a step mixes prompt and decode tokens, as the simulation's ``EngineConfig.policy`` names it:
    #: "chunked" (vLLM V1, TensorRT-LLM in-flight batching: a step carries the running decodes and prompt chunks
    #: in one token budget) or "prefill_first" (SGLang: a step is a prefill batch or a decode batch, never both;
    #: :data:`SGLANG_BATCHING`)
    batching: str = "chunked"

    def with_(self, **kw) -> "ServingEfficiency":
        return replace(self, **kw)

    def at_release(self, version: tuple | None) -> "ServingEfficiency":
        """The engine's kernels and KV cache as release ``version`` (a tuple of ints; None: the current release) ran
        them: MXFP4 experts natively on ``mxfp4_native_before`` only before ``mxfp4_native_since``; local layers' KV by
        the ``local_kv_releases`` rule whose releases hold ``version``. A release newer than every rule here runs as
        the newest."""
        if version is None:
            return self
        v, se = tuple(version), self
        if self.mxfp4_native_since and v < self.mxfp4_native_since:
            se = replace(se, mxfp4_native=self.mxfp4_native_before)
        for since, until, rule in self.local_kv_releases:
            if since <= v < until:
                se = replace(se, local_kv=rule)
        return se


#: GEMM row tile: Hopper's warpgroup MMA (wgmma) has M = 64 (PTX ISA, "Asynchronous Warpgroup Level
#: Matrix Multiply-Accumulate", shapes m64nNk16); cuBLAS/CUTLASS tiles are whole multiples of it.
#: Used for every GPU (an approximation for Ampere/Ada, whose CTA tiles are 64-256 rows too).
TILE_ROWS = 64

#: GEMM row tile of the weight-only (W4A16 int4, and W8A16 fp8 on a GPU without fp8 units) kernels:
#: 16. Marlin (Frantar & Alistarh 2024, github.com/IST-DASLab/marlin ``marlin/marlin_cuda_kernel.cu``
#: ``marlin_cuda``: ``tot_m_blocks = ceildiv(prob_m, 16)``, launched as 1-4 ``thread_m_blocks`` of
#: 16 rows, tensor-core ``mma.m16n8k16``) pads the batch to whole 16-row blocks; vLLM runs AWQ and
#: GPTQ checkpoints through it (``awq_marlin`` / ``gptq_marlin``, ``GPTQ_MARLIN_TILE = 16``) and
#: so does its FP8 path on Ampere. At small batch the GEMM then streams the 4-bit weights at
#: near HBM bandwidth — the Marlin README's "close to ideal (4x) speedups up to batchsizes of 16-32"
#: (3.87x with the group scales) — instead of paying for 64 padded rows of bf16 math.
WEIGHT_ONLY_TILE_ROWS = 16

_ZERO_FP8 = ("prior: 1.39, torchao float8 Linear speed-up at 4096x8192x16384 on H100 "
             "(benchmarks/data/parts/fp8_gemm.csv); not identifiable: no bf16 and fp8 rows of this engine together")

#: SGLang's schedule: sgl-project/sglang python/sglang/srt/managers/scheduler.py ``get_next_batch_to_run`` forms a
#: new prefill batch (``get_new_batch_prefill``) and runs it first whenever one can be formed, else the running batch
#: decodes; the prefill batch takes the running decodes in (``mix_with_running``) only under ``--enable-mixed-chunk``,
#: False by default (server_args.py ``enable_mixed_chunk: bool = False``), so a prefill batch and decode batches
#: alternate (planner.workloads.serving_iteration ``lumped_parts``; the simulation's ``policy="prefill_first"``)
SGLANG_BATCHING = "prefill_first"

#: vLLM's ``get_mxfp4_backend`` (vllm/model_executor/layers/quantization/mxfp4.py): on capability 10 (B200, B300)
#: FlashInfer's MXFP4 MoE; on capability 9 and 10 triton_kernels' ``matmul_ogs`` when ``has_triton_kernels()``, else,
#: and on every capability < 9, Marlin. triton_kernels is a vLLM dependency since PR #27370 ("[Misc] Add
#: triton_kernels dependency", merged 2025-10-22, first in release 0.11.1: "At the moment, users have to install
#: `triton_kernels` manually to access this code-path"; its test: "On hopper, both commands defaults to using the
#: Triton implementation"), so vLLM runs Hopper's MXFP4 experts through Triton from 0.11.1 (:data:`VLLM_MXFP4_NATIVE`,
#: the default; triton_kernels is not on PyPI, so a pip install can still lack it and run Marlin) and through Marlin
#: up to 0.11.0
#: (:data:`VLLM_MXFP4_NATIVE_BEFORE_0_11_1`; vLLM PR #27523: "The change made in a9f55dc ... added the triton_kernels
#: dependency, which caused SM90 to default to Triton instead of Marlin"). Blackwell is FlashInfer's in both.
VLLM_MXFP4_NATIVE = ("H100", "H200", "B200", "B300")
VLLM_MXFP4_NATIVE_SINCE = (0, 11, 1)
VLLM_MXFP4_NATIVE_BEFORE_0_11_1 = ("B200", "B300")

#: one entry per engine (planner.vocab.SERVE_ENGINE); values from :data:`FIT` (the all-sources fit of
#: 2026-11-30: 175 rows, 6 sources) unless a source says otherwise. ``hbm`` is capped at 0.92 (the best
#: STREAM-like fraction of H100/A100 HBM peak) and ``host_s`` at 20 ms by the fit's bounds.
ENGINES: dict[str, ServingEfficiency] = {
    # 3 sources (GPUStack H100 / A100 Qwen3-14B, vLLM CI H200 latency): 9 fitted rows
    "vllm": ServingEfficiency(hbm=0.618, fp8=1.39, host_s=0.32e-3, compute=0.71,
                              sources={"hbm": FIT, "host_s": FIT, "compute": FIT, "fp8": _ZERO_FP8},
                              local_kv=VLLM_LOCAL_KV, prefix=VLLM_PREFIX, mxfp4_marlin=True,
                              mxfp4_native=VLLM_MXFP4_NATIVE, mxfp4_native_since=VLLM_MXFP4_NATIVE_SINCE,
                              mxfp4_native_before=VLLM_MXFP4_NATIVE_BEFORE_0_11_1,
                              local_kv_releases=((*VLLM_CHUNKED_HYBRID_OFF, VLLM_LOCAL_KV_CHUNKED_OFF),)),
    # 1 source (GPUStack H100 Qwen3-14B FP8): 3 fitted rows; host_s sits on its 20 ms bound (it
    # absorbs the slow TPOT of SGLang's prefill-first schedule there) — weakly determined
    "sglang": ServingEfficiency(hbm=0.781, fp8=1.39, host_s=20.0e-3, compute=0.70,
                                sources={"hbm": FIT, "host_s": FIT + " (on its 20 ms bound)", "compute": FIT,
                                         "fp8": _ZERO_FP8},
                                local_kv=SGLANG_LOCAL_KV, prefix=SGLANG_PREFIX, batching=SGLANG_BATCHING),
    # 4 sources (GPUStack A100, TRT-LLM v1.0 offline, v0.9 static batch, v0.9 batch-1 TTFT): 159 rows;
    # hbm on its 0.92 bound
    "tensorrt-llm": ServingEfficiency(hbm=0.92, fp8=1.80, host_s=5.40e-3, compute=0.84,
                                      sources={"hbm": FIT + " (on its 0.92 bound)", "host_s": FIT, "compute": FIT,
                                               "fp8": FIT},
                                      local_kv=TRTLLM_LOCAL_KV, prefix=TRTLLM_PREFIX),
}


def engine_efficiency(engine: str, release: tuple | None = None) -> ServingEfficiency:
    """The parameters of ``engine`` (one of planner.vocab.SERVE_ENGINE) at ``release`` (a tuple of ints: a job's
    ``serving.engine_release``; None, the current release). A release newer than any rule here is priced by the
    newest rule (``at_release``).

    >>> engine_efficiency("vllm", (0, 10, 2)).mxfp4_native, engine_efficiency("vllm", (0, 12, 0)) == ENGINES["vllm"]
    (('B200', 'B300'), True)
    """
    try:
        return ENGINES[engine].at_release(release)
    except KeyError:
        raise KeyError(f"no serving efficiency for engine {engine!r}; one of {', '.join(ENGINES)}") from None


def job_efficiency(s) -> ServingEfficiency:
    """The efficiency a serving job's engine runs at: ``serving.engine`` at ``serving.engine_version``
    (planner.spec ``ServingSpec.engine_release``) -- what every plan's memory, iteration time and KV rule read."""
    return engine_efficiency(s.engine, s.engine_release)


@dataclass(frozen=True)
class EngineHardware:
    """What an engine's kernels run on: the accelerator platforms it is built for (planner.hardware.platform
    ``PLATFORMS`` keys), and on NVIDIA GPUs the least CUDA compute capability (major x 10 + minor,
    ``platform.CUDA_COMPUTE_CAPABILITY``) it supports at all (``min_cc``, None: not checked) and per weight precision
    (``precision_cc``), each from ``source``."""
    platforms: tuple[str, ...]
    min_cc: int | None
    precision_cc: dict
    source: str


#: FP8 weights on an NVIDIA GPU: W8A8 on FP8 tensor cores from SM89 (Ada, Hopper, Blackwell), else weight-only
#: (W8A16) through Marlin's FP8 kernel, which needs SM80 (vLLM ``marlin_utils_fp8.is_fp8_marlin_supported``:
#: ``has_device_capability(80)``); below SM80 no FP8 kernel runs (vLLM docs "Supported Hardware" for quantization,
#: v0.9.2: "Marlin (GPTQ/AWQ/FP8)" and "FP8 (W8A8)" both unsupported on Volta / Turing)
FP8_CUDA_CC = 80

#: one entry per engine (planner.vocab.SERVE_ENGINE): ``plan_serving`` leaves out (and says so) every option whose
#: accelerator or weight precision the engine does not run; until QA 88 TensorRT-LLM was planned on TPUs and V100s,
#: and fp8 on A100s and T4s
ENGINE_HARDWARE: dict[str, EngineHardware] = {
    # docs.vllm.ai "GPU" installation: compute capability 7.0 or higher; its ROCm, TPU, Gaudi (vllm-gaudi) and
    # Neuron back ends; quantization "Supported Hardware" (v0.9.2): INT8 W8A8 from Turing, FP8 as FP8_CUDA_CC
    "vllm": EngineHardware(("cuda", "rocm", "tpu", "gaudi", "neuron"), 70, {"fp8": FP8_CUDA_CC, "int8": 75},
                           "vLLM installation docs (compute capability >= 7.0) and its quantization Supported "
                           "Hardware table (v0.9.2)"),
    # sgl-project/sglang README: NVIDIA and AMD GPUs, Google TPUs (SGLang-Jax), Intel Xeon CPUs, Ascend NPUs; no
    # least compute capability stated
    "sglang": EngineHardware(("cuda", "rocm", "tpu"), None, {"fp8": FP8_CUDA_CC},
                             "sgl-project/sglang README (supported hardware)"),
    # TensorRT-LLM Support Matrix (0.18.2, "Hardware" / "Precision"): Blackwell, Hopper (SM90), Ada Lovelace (SM89),
    # Ampere (SM80, SM86); FP8 on Hopper and Ada only ("Ampere - FP32, FP16, BF16, INT8, INT4"); NVIDIA GPUs only
    "tensorrt-llm": EngineHardware(("cuda",), 80, {"fp8": 89},
                                   "TensorRT-LLM Support Matrix (0.18.2): Ampere and newer, FP8 from Ada (SM89)"),
}


def engine_refusal(engine: str, gpu, precision: str) -> tuple[str, str] | None:
    """Why ``engine`` (``ENGINE_HARDWARE``) does not serve ``precision`` weights on catalog accelerator ``gpu``: (the
    rule, what ``gpu`` is) -- a caller names the GPUs one rule leaves out together -- or None where it does (or where
    the catalog does not say: a device of no known platform, an NVIDIA part the compute-capability table does not name).

    >>> from types import SimpleNamespace as G
    >>> engine_refusal("tensorrt-llm", G(name="TPU-v5e", vendor="Google"), "bf16")
    ('tensorrt-llm runs on NVIDIA GPUs (CUDA) only', 'TPU-v5e (Google TPUs (XLA))')
    >>> engine_refusal("tensorrt-llm", G(name="A100-SXM-80GB", vendor="NVIDIA"), "fp8")
    ('tensorrt-llm runs fp8 from compute capability 8.9', 'A100-SXM-80GB (8.0)')
    >>> engine_refusal("vllm", G(name="A100-SXM-80GB", vendor="NVIDIA"), "fp8") is None
    True
    """
    from planner.hardware.platform import PLATFORMS, cuda_compute_capability, platform_of

    need = ENGINE_HARDWARE[engine]
    plat = platform_of(gpu)
    if plat is None:
        return None
    if plat not in need.platforms:
        runs = ", ".join(PLATFORMS[p] for p in need.platforms)
        return f"{engine} runs on {runs}{' only' if len(need.platforms) == 1 else ''}", f"{gpu.name} ({PLATFORMS[plat]})"
    cc = cuda_compute_capability(gpu)
    if cc is None:
        return None
    for what, least in (("", need.min_cc), (f" {precision}", need.precision_cc.get(precision))):
        if least is not None and cc < least:
            return f"{engine} runs{what} from compute capability {least / 10:.1f}", f"{gpu.name} ({cc / 10:.1f})"
    return None
