"""Tiny random-weight configs, one per Hugging Face family, for the make_hf_*.py truth scripts.

Each keeps its family's structure at toy size (2 blocks, hidden 64, vocab 256): MoE blocks with
real top-k routing over several experts, MLA low-rank dims, sliding-window / chunked layers with a
window shorter than the measured sequences, q/k norms, biases, tied or untied heads as the family
has them. Nothing here is downloaded: every model is built with ``from_config``.

Not a script: the shared part of the make_hf_*.py / make_peft_truth.py scripts (only they import it; the tests read their JSON output).
"""
from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

# tokens 0..2 are pad/bos/eos so no default id (e.g. gpt-oss pad 199999) falls outside vocab 256
_IDS = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)
_BASE = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
             vocab_size=256, intermediate_size=128, max_position_embeddings=512,
             tie_word_embeddings=False, **_IDS)

WINDOW = 32  # sliding window / attention chunk of the tiny configs: shorter than every measured seq

FAMILIES: dict[str, dict] = {
    "llama": dict(model_type="llama", **_BASE),
    "mistral": dict(model_type="mistral", **_BASE, sliding_window=WINDOW),
    "qwen2": dict(model_type="qwen2", **_BASE),  # q/k/v bias
    "qwen3": dict(model_type="qwen3", **_BASE, head_dim=32),  # q/k norm, head_dim != hidden/heads
    "qwen3_moe": dict(model_type="qwen3_moe", **_BASE, head_dim=16, num_experts=8, num_experts_per_tok=2,
                      moe_intermediate_size=32, decoder_sparse_step=1, mlp_only_layers=[],
                      norm_topk_prob=True),
    "mixtral": dict(model_type="mixtral", **_BASE, num_local_experts=4, num_experts_per_tok=2),
    "deepseek_v3": dict(model_type="deepseek_v3", **{**_BASE, "num_key_value_heads": 4},
                        moe_intermediate_size=32, n_routed_experts=8, n_shared_experts=1,
                        num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=1,
                        q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8,
                        v_head_dim=16, num_nextn_predict_layers=1, rope_scaling=None),
    "deepseek_v2": dict(model_type="deepseek_v2", **{**_BASE, "num_key_value_heads": 4},
                        moe_intermediate_size=32, n_routed_experts=8, n_shared_experts=2,
                        num_experts_per_tok=2, n_group=1, topk_group=1, topk_method="greedy",
                        first_k_dense_replace=1, q_lora_rank=None, kv_lora_rank=16,
                        qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, rope_scaling=None),
    "llama4_text": dict(model_type="llama4_text", **{**_BASE, "intermediate_size": 32}, head_dim=16,
                        intermediate_size_mlp=128, num_local_experts=4, num_experts_per_tok=1,
                        interleave_moe_layer_step=1, attention_chunk_size=WINDOW,
                        no_rope_layers=[1, 0], use_qk_norm=True, rope_scaling=None),
    "gemma2": dict(model_type="gemma2", **{**_BASE, "tie_word_embeddings": True}, head_dim=16,
                   sliding_window=WINDOW, query_pre_attn_scalar=16),
    "gemma3_text": dict(model_type="gemma3_text", **{**_BASE, "tie_word_embeddings": True}, head_dim=16,
                        sliding_window=WINDOW, query_pre_attn_scalar=16,
                        layer_types=["sliding_attention", "full_attention"]),
    "gpt_oss": dict(model_type="gpt_oss", **{**_BASE, "intermediate_size": 32}, head_dim=16,
                    num_local_experts=4, num_experts_per_tok=2, sliding_window=WINDOW,
                    layer_types=["sliding_attention", "full_attention"],
                    # the published YaRN scaling (factor 32 over a 4096 original) shrunk with the model
                    rope_parameters={"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0,
                                     "original_max_position_embeddings": 16, "truncate": False,
                                     "rope_theta": 150000.0}),
    "olmo2": dict(model_type="olmo2", **_BASE),  # q/k norm over all heads, post-norms
    "phi3": dict(model_type="phi3", **_BASE, sliding_window=None),  # fused qkv and gate_up
    "gpt2": dict(model_type="gpt2", n_embd=64, n_layer=2, n_head=4, vocab_size=256, n_positions=512,
                 bos_token_id=1, eos_token_id=2),
    "bert": dict(model_type="bert", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=128, vocab_size=256, max_position_embeddings=512, pad_token_id=0),
}
ENCODERS = {"bert"}
MOE = {"qwen3_moe", "mixtral", "deepseek_v3", "deepseek_v2", "llama4_text", "gpt_oss"}


def build(family: str, attn: str = "eager", experts: str | None = "eager", seed: int = 0,
          overrides: dict | None = None):
    """A freshly initialised tiny model of ``family`` on CPU in fp32 (train mode)."""
    raw = dict(FAMILIES[family], **(overrides or {}))
    cfg = AutoConfig.for_model(**raw)
    auto = AutoModelForMaskedLM if family in ENCODERS else AutoModelForCausalLM
    kw = {"attn_implementation": attn}
    if family in MOE and experts is not None:
        kw["experts_implementation"] = experts
    torch.manual_seed(seed)
    model = auto.from_config(cfg, **kw)
    model.train()
    return model


def batch(family: str, b: int, s: int, seed: int = 0) -> dict:
    """input_ids and labels (labels = inputs, as a causal LM / MLM trainer would pass)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, FAMILIES[family]["vocab_size"], (b, s), generator=g)
    return {"input_ids": ids, "labels": ids.clone()}


class RoutingRecorder:
    """Counts, per MoE block, how many tokens the router sends to each expert in one forward.

    Hooks the experts module (its forward gets the router's top-k indices) or, for Llama-4
    (whose experts module gets only hidden states), the router (top-k of its logits).
    """

    def __init__(self, model):
        self.records: dict[str, dict] = {}
        self.handles = []
        for name, mod in model.named_modules():
            cls = type(mod).__name__
            if cls.endswith("Experts") and cls != "Llama4TextExperts":
                self.handles.append(mod.register_forward_hook(self._experts_hook(name, mod), with_kwargs=True))
            elif cls == "Llama4Router":
                self.handles.append(mod.register_forward_hook(self._llama4_hook(name, mod)))

    def _add(self, name, idx, n_experts, tokens, computed=None):
        counts = torch.bincount(idx.reshape(-1).long(), minlength=n_experts)[:n_experts].tolist()
        rec = self.records.setdefault(name, {"calls": 0, "tokens": 0, "top_k": idx.shape[-1],
                                             "num_experts": n_experts, "tokens_per_expert": [0] * n_experts})
        rec["calls"] += 1
        rec["tokens"] += tokens
        rec["tokens_per_expert"] = [a + c for a, c in zip(rec["tokens_per_expert"], counts)]
        if computed is not None:
            rec["computed_tokens_per_expert"] = computed

    def _experts_hook(self, name, mod):
        def hook(m, args, kwargs, out):
            idx = args[1] if len(args) > 1 else kwargs.get("top_k_index", kwargs.get("router_indices"))
            self._add(name, idx.detach(), m.num_experts, args[0].shape[0])
        return hook

    def _llama4_hook(self, name, mod):
        def hook(m, args, out):
            logits = out[1]
            idx = torch.topk(logits.detach(), m.top_k, dim=-1).indices
            n = logits.shape[0]
            # Llama4TextExperts runs every expert on every token (a dense bmm over router-scaled
            # copies of the input): the compute does not follow the routing
            self._add(name.replace(".router", ".experts"), idx, m.num_experts, n, computed=[n] * m.num_experts)
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


# --------------------------------------------------------------------------------------------
# Saved-activation and live-tensor measurement (make_hf_activations.py, make_peft_truth.py)
# --------------------------------------------------------------------------------------------
import contextlib  # noqa: E402
import weakref  # noqa: E402

from torch.multiprocessing.reductions import StorageWeakRef  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

_VIEW_FNS = {"TBackward0", "ViewBackward0", "TransposeBackward0", "ExpandBackward0", "PermuteBackward0",
             "UnsqueezeBackward0", "SqueezeBackward0", "SqueezeBackward1", "AliasBackward0",
             "UnsafeViewBackward0", "SliceBackward0", "SelectBackward0", "ReshapeAliasBackward0"}


def _local(p: torch.Tensor) -> torch.Tensor:
    """A parameter's own storage: the local shard of an FSDP2 (``fully_shard``) DTensor parameter, whose
    ``untyped_storage`` is not a real one; the tensor itself otherwise."""
    return p.to_local() if hasattr(p, "to_local") else p


def _casts_a_param(t: torch.Tensor, param_ids: set) -> bool:
    """True if ``t`` is (a view of) a dtype copy of a parameter: autocast's weight casts."""
    fn = t.grad_fn
    for _ in range(6):
        if fn is None:
            return False
        name = fn.name()
        if name == "ToCopyBackward0":  # a cast: of a parameter, or of a view (slice) of one?
            nxt = fn.next_functions[0][0] if fn.next_functions else None
            while nxt is not None and nxt.name() in _VIEW_FNS:
                nxt = nxt.next_functions[0][0] if nxt.next_functions else None
            return nxt is not None and id(getattr(nxt, "variable", None)) in param_ids
        if name not in _VIEW_FNS:
            return False
        fn = fn.next_functions[0][0] if fn.next_functions else None
    return False


#: the op that fills a dropout's mask on CPU, and only there in these models: ``at::dropout`` on a CPU tensor is not
#: "fused-kernel acceptable" (pytorch aten/src/ATen/native/Dropout.cpp ``is_fused_kernel_acceptable``: CUDA, XPU,
#: lazy or PrivateUse1 only), so ``_dropout_impl`` runs ``noise = at::empty_like(input); noise.bernoulli_(1 - p);
#: noise.div_(1 - p); input * noise`` -- a mask in the input's dtype (2 or 4 B an element) that the product saves. A
#: GPU runs ``native_dropout`` (aten/src/ATen/native/cuda/Dropout.cu ``dropout_cuda``: the mask ``empty_like(self,
#: dtype=kBool)``, older releases' ``fused_dropout`` ``kByte``), whose backward saves that 1 B mask: same shape,
#: same lifetime, same moment of creation (beside the output). ``LiveTensors``' ``*_gpu`` counts and
#: ``SavedTensors``' ``dropout_masks`` price each such storage at 1 B an element: the GPU's tensors.
DROPOUT_MASK_FILLS = {torch.ops.aten.bernoulli_}


class LiveTensors(TorchDispatchMode):
    """Bytes of tensor storages created under this mode and still alive, and their peak.

    torch has no memory statistics for its CPU allocator (torch.cpu has none; tracemalloc does not
    see torch's allocations), so this counts at the tensor level instead: every storage an aten op
    returns is tracked by a weak reference until it is freed. It is exact for tensor memory and
    blind to allocator caching/fragmentation; storages that existed before (the parameters, the
    inputs: pass their data_ptrs as ``exclude``) are not counted, nor are views of them.
    """

    def __init__(self, exclude: set[int] = frozenset()):
        super().__init__()
        self.exclude = set(exclude)  # data_ptrs of pre-existing storages (params, inputs): views of them are free
        self.refs: dict[int, tuple[StorageWeakRef, int]] = {}
        self.live = 0
        self.peak = 0
        # the same count with every dropout mask at a GPU's 1 B an element (``is_mask``, ``DROPOUT_MASK_FILLS``)
        self.gpu_less: dict[int, int] = {}  # mask storage -> its bytes over one a element
        self.live_gpu = 0
        self.peak_gpu = 0

    def is_mask(self, ptr: int) -> bool:
        """Whether the live storage at ``ptr`` was filled by a dropout's ``bernoulli_`` (its mask)."""
        return ptr in self.gpu_less and not self.refs[ptr][0].expired()

    def _prune(self):
        dead = [k for k, (r, _) in self.refs.items() if r.expired()]
        for k in dead:
            nb = self.refs.pop(k)[1]
            self.live -= nb
            self.live_gpu -= nb - self.gpu_less.pop(k, 0)

    def _track(self, t):
        if not isinstance(t, torch.Tensor) or t.device.type != "cpu":
            return
        s = t.untyped_storage()
        ptr, nb = s.data_ptr(), s.nbytes()
        if nb == 0 or ptr in self.exclude:
            return
        old = self.refs.get(ptr)
        if old is not None and not old[0].expired():
            return
        if old is not None:
            self.live -= old[1]
            self.live_gpu -= old[1] - self.gpu_less.pop(ptr, 0)
        self.refs[ptr] = (StorageWeakRef(s), nb)
        self.live += nb
        self.live_gpu += nb

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self._prune()
        for t in torch.utils._pytree.tree_leaves(out):
            self._track(t)
        if func.overloadpacket in DROPOUT_MASK_FILLS and isinstance(out, torch.Tensor):
            ptr = out.untyped_storage().data_ptr()
            if ptr in self.refs and ptr not in self.gpu_less:
                nb = self.refs[ptr][1]
                self.gpu_less[ptr] = nb - nb // out.element_size()  # a GPU's mask: 1 B (bool) an element
                self.live_gpu -= self.gpu_less[ptr]
        self.peak = max(self.peak, self.live)
        self.peak_gpu = max(self.peak_gpu, self.live_gpu)
        return out

    def snapshot(self) -> int:
        self._prune()
        return self.live


class WeightCopies(TorchDispatchMode):
    """The storages that are the model's parameters copied while this mode is active: their per-call casts
    (autocast's uncached copies of a frozen weight, which carry no ``grad_fn`` for ``_casts_a_param`` to follow; a
    16-bit norm weight cast to fp32 for CUDA autocast's fp32 ``layer_norm``; FSDP2's gathered parameters cast), and
    casts, copies and views of those. A tensor computed from parameters by arithmetic is not one (peft's
    ``ParamWrapper`` ``W + delta`` of Mixtral's experts: a per-call product kept as an activation). ``SavedTensors``
    (``is_weight``) files a saved copy as kind "param": a weight, told by where it came from and not by its shape
    (truth51: by shape, GPT-2's ``c_fc`` ``lora_B`` input, 2 x 128 tokens x r 16, read as its 256 x 16 weight)."""

    #: the copying ops (views are told by ``OpOverload.is_view``): autocast's and FSDP2's casts, ``.contiguous()``
    COPIES = {torch.ops.aten._to_copy, torch.ops.aten.clone}

    def __init__(self, params):
        super().__init__()
        self.roots = {_local(p).untyped_storage().data_ptr() for p in params}
        self.refs: dict[int, list] = {}  # storage address -> weak references to the copies made there

    def _weight(self, t: torch.Tensor) -> bool:
        if isinstance(t, torch.nn.Parameter) or isinstance(t._base, torch.nn.Parameter):
            return True  # FSDP2's gathered parameters are not among the roots (their storage is made per gather)
        ptr = t.untyped_storage().data_ptr()
        return ptr in self.roots or self.holds(ptr)

    def holds(self, ptr: int) -> bool:
        """Whether the storage at ``ptr`` is a copy of the parameters: one of the copies made there is alive and its
        storage still holds that address. A storage can outlive its memory: FSDP2 frees its unsharded parameters
        -- made from the shards, so copies here -- by ``resize_(0)`` and the allocator hands the address on
        (``_released``; without this check a BERT block's ``key`` ``lora_B`` input, 256 x 16, read as a weight)."""
        return any(t is not None and t.untyped_storage().data_ptr() == ptr
                   for t in (r() for r in self.refs.get(ptr, ())))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        ins = [t for t in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        weight = ((func.is_view or func.overloadpacket in self.COPIES) and len(ins) == 1 and self._weight(ins[0]))
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.untyped_storage().nbytes():
                ptr = t.untyped_storage().data_ptr()
                if weight:
                    self.refs[ptr] = [r for r in self.refs.get(ptr, ()) if r() is not None] + [weakref.ref(t)]
        return out


class SavedTensors:
    """What autograd saves for backward in one forward, deduplicated by storage.

    ``torch.autograd.graph.saved_tensors_hooks`` sees every tensor saved for backward; each storage
    (``untyped_storage().data_ptr()``) is counted once with its full ``nbytes`` and attributed to the
    innermost nn.Module running when it was first saved (forward pre/post hooks keep the stack).
    Parameters (storage identity with ``model.parameters()``) are excluded -- a parameter that is not among them
    when the hooks begin (FSDP2's gathered, unsharded ones) and a copy of parameters (``is_weight``: a frozen
    weight's per-call cast) are kept as kind "param"; autocast's saved
    low-precision copies of parameters are reported apart as ``param_casts`` (neither weights nor
    activations). A storage saved and then freed before the forward ends (its graph branch was
    dropped, e.g. router internals with no gradient path) is not counted in ``saved_bytes`` but in
    ``saved_then_freed_bytes``; weak references tell the two apart even when the allocator reuses
    the address. Under non-reentrant gradient checkpointing the checkpointed blocks save through
    checkpoint's own hooks, which keep nothing; what they keep is their inputs, held by reference:
    those (tensor args and kwargs of each GradientCheckpointingLayer call, params excluded) are
    added as ``checkpoint_inputs`` of that block.
    """

    def __init__(self, model, gc: bool, is_mask=None, is_weight=None):
        self.model = model
        self.is_mask = is_mask  # storage data_ptr -> whether a dropout mask (``LiveTensors.is_mask``), or None
        self.is_weight = is_weight  # storage data_ptr -> whether a copy of the parameters (``WeightCopies.holds``)
        self.param_ptrs = {_local(p).untyped_storage().data_ptr() for p in model.parameters()}
        self.param_ids = {id(p) for p in model.parameters()}
        self.stack: list[str] = []
        self.seen: dict[int, dict] = {}
        self.freed: list[dict] = []  # saved, then freed within the forward (their graph branch was dropped)
        self.casts: dict[int, int] = {}
        self.handles = []
        self.active = True
        names = {m: n for n, m in model.named_modules()}
        for mod, name in names.items():
            self.handles.append(mod.register_forward_pre_hook(self._pre(name, gc and _is_gc_layer(mod)),
                                                              with_kwargs=True))
            self.handles.append(mod.register_forward_hook(self._post(name)))

    def _pre(self, name, gc_layer):
        def hook(mod, args, kwargs):
            if not self.active:
                return
            self.stack.append(name)
            if gc_layer:
                for t in torch.utils._pytree.tree_leaves((args, kwargs)):
                    if isinstance(t, torch.Tensor):
                        self._record(t, kind="checkpoint_inputs")
        return hook

    def _post(self, name):
        def hook(mod, args, out):
            if self.active and self.stack and self.stack[-1] == name:
                self.stack.pop()
        return hook

    def _record(self, t: torch.Tensor, kind: str = "saved"):
        s = t.untyped_storage()
        ptr = s.data_ptr()
        if ptr in self.param_ptrs or s.nbytes() == 0:
            return
        if kind == "saved" and _casts_a_param(t, self.param_ids):
            self.casts.setdefault(ptr, s.nbytes())
            return
        if kind == "saved" and (any(isinstance(x, torch.nn.Parameter) for x in (t, t._base))
                                or (self.is_weight and self.is_weight(ptr))):
            kind = "param"  # a parameter not among model.parameters() when the hooks began (FSDP2's gathered ones)
            # or a copy of parameters (``WeightCopies``)
        old = self.seen.get(ptr)
        if old is not None:
            if not old["ref"].expired() and not _released(old, ptr):
                return  # the same storage, saved again
            if old["ref"].expired():
                self.freed.append(self.seen.pop(ptr))  # freed since: its address is reused
            else:  # still saved, its memory released (FSDP2's reshard): kept, under a key of its own
                self.seen[(ptr, len(self.seen))] = self.seen.pop(ptr)
        self.seen[ptr] = {"module": self.stack[-1] if self.stack else "", "nbytes": s.nbytes(),
                          "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "kind": kind,
                          "ref": StorageWeakRef(s), "tensor": weakref.ref(t), "itemsize": t.element_size(),
                          "mask": bool(self.is_mask and kind == "saved" and self.is_mask(ptr))}

    def pack(self, t):
        if self.active:
            self._record(t)
        return t

    @staticmethod
    def unpack(t):
        return t

    def hooks(self):
        return torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack)

    def stop(self):
        self.active = False
        for h in self.handles:
            h.remove()

    def summary(self) -> dict:
        """Call at the end of the forward: counts the saved storages still alive then."""
        for ptr in [p for p, r in self.seen.items() if r["ref"].expired()]:
            self.freed.append(self.seen.pop(ptr))
        by_dtype: dict[str, int] = {}
        by_module: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        for rec in self.seen.values():
            by_dtype[rec["dtype"]] = by_dtype.get(rec["dtype"], 0) + rec["nbytes"]
            by_module[rec["module"]] = by_module.get(rec["module"], 0) + rec["nbytes"]
            by_kind[rec["kind"]] = by_kind.get(rec["kind"], 0) + rec["nbytes"]
        return {"saved_bytes": sum(r["nbytes"] for r in self.seen.values()),
                "saved_storages": len(self.seen),
                "by_dtype": dict(sorted(by_dtype.items())), "by_kind": dict(sorted(by_kind.items())),
                "by_module": dict(sorted(by_module.items())),
                "param_casts_bytes": sum(self.casts.values()), "param_casts_storages": len(self.casts),
                "saved_then_freed_bytes": sum(r["nbytes"] for r in self.freed),
                "saved_then_freed_storages": len(self.freed)}

    def tensors(self) -> list:
        return [[r["module"], r["shape"], r["dtype"], r["nbytes"], r["kind"]] for r in self.seen.values()]

    def dropout_masks(self) -> list:
        """``[module, dtype, nbytes, elements]`` of each saved dropout mask still alive (``is_mask`` given)."""
        return [[r["module"], r["dtype"], r["nbytes"], r["nbytes"] // r["itemsize"]] for r in self.seen.values()
                if r["mask"]]


def _released(rec: dict, ptr: int) -> bool:
    """True when a saved storage still alive no longer holds the memory at ``ptr``: FSDP2 frees each gathered
    parameter after the forward by ``untyped_storage().resize_(0)`` (torch 2.13
    distributed/fsdp/_fully_shard/_fsdp_param.py ``free_unsharded_param`` -> ``free_storage``), the saved views keep
    the storage object (its data_ptr now 0) and the allocator hands the address to the next tensor (loraf51: until
    then a later activation there read as the weight saved again and went uncounted, -8,192 B a GPT-2 layer's
    ``c_attn`` ``lora_B`` input)."""
    t = rec["tensor"]()
    return t is not None and t.untyped_storage().data_ptr() != ptr


def _is_gc_layer(mod) -> bool:
    return any(c.__name__ == "GradientCheckpointingLayer" for c in type(mod).__mro__)


class CudaAutocastPolicy:
    """CUDA autocast's op lists, applied to CPU autocast while this context is active.

    CPU autocast (``torch.autocast("cpu")``) casts the matmuls to bf16 as CUDA's does, but its fp32 list lacks
    most of CUDA's: on a GPU ``layer_norm``, ``pow``, ``rsqrt``, ``exp``, ``log`` ... run in fp32 (their 16-bit
    inputs cast up, a copy autograd may save) and ``softmax`` / ``log_softmax`` / ``sum`` / ``cumsum`` without a
    dtype return fp32. Source: pytorch aten/src/ATen/autocast_mode.cpp (``AT_FORALL_FP32``,
    ``AT_FORALL_FP32_SET_OPT_DTYPE``; ``KERNEL_CUDA(..., fp32)`` / ``fp32_set_opt_dtype``). Each listed op gets a
    Python kernel on the ``AutocastCPU`` dispatch key (torch.library) that does what CUDA's wrapper does --
    ``fp32``: every bf16/fp16 tensor argument ``.float()``-ed (a recorded cast, as ``cached_cast`` to fp32, which
    never caches); ``fp32_set_opt_dtype``: ``dtype=torch.float32`` where the call gives none -- then redispatches
    with autocast excluded. Outside the context the kernels only redispatch (CPU behaviour unchanged).
    """

    FP32 = ("acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal",
            "rsqrt", "sinh", "tan", "pow.Tensor_Scalar", "pow.Tensor_Tensor", "pow.Scalar", "softplus",
            "layer_norm", "native_layer_norm", "group_norm", "cosine_similarity", "logsumexp")
    SET_OPT_DTYPE = ("softmax.int", "log_softmax.int", "cumsum", "cumprod", "sum", "sum.dim_IntList")
    _lib = None
    active = False

    def __enter__(self):
        cls = type(self)
        if cls._lib is None:
            cls._lib = torch.library.Library("aten", "IMPL")
            for name in self.FP32:
                cls._lib.impl(name, self._kernel(name, set_dtype=False), "AutocastCPU")
            for name in self.SET_OPT_DTYPE:
                cls._lib.impl(name, self._kernel(name, set_dtype=True), "AutocastCPU")
        cls.active = True
        return self

    def __exit__(self, *exc):
        type(self).active = False

    @classmethod
    def _kernel(cls, name: str, set_dtype: bool):
        base, _, overload = name.partition(".")
        op = getattr(getattr(torch.ops.aten, base), overload or "default")
        excl = torch._C.DispatchKeySet(torch._C.DispatchKey.AutocastCPU)

        def up(t):
            return t.float() if isinstance(t, torch.Tensor) and t.dtype in (torch.bfloat16, torch.float16) else t

        def kernel(*args, **kwargs):
            if cls.active:
                if not set_dtype:
                    args, kwargs = torch.utils._pytree.tree_map(up, (args, kwargs))
                else:
                    positional = base in ("softmax", "log_softmax")  # (self, dim, dtype=None); the others kw-only
                    given = args[2] if positional and len(args) > 2 else kwargs.get("dtype")
                    if given is None and args[0].dtype in (torch.bfloat16, torch.float16):
                        args = args[:2] if positional else args
                        kwargs = dict(kwargs, dtype=torch.float32)
            with torch._C._ExcludeDispatchKeyGuard(excl):
                return op(*args, **kwargs)
        return kernel


def training_step(model, inputs: dict, precision: str, gc: bool, keep_tensors: bool = False,
                  output_held: bool = True, wrap=None, gpu_masks: bool = False) -> dict:
    """One training forward + backward of ``model`` measured three ways (see the classes above).

    ``precision``: "fp32" or "as_loaded" (the model as it is), "bf16" (``model.to(torch.bfloat16)``
    before the call: pure bf16), "amp_bf16" (the weights as they are, forward under
    ``torch.autocast("cpu", dtype=torch.bfloat16)``); "amp_bf16_cuda" (the same under CUDA autocast's op lists,
    ``CudaAutocastPolicy``: what DDP + AMP runs on a GPU) and "amp_bf16_w16_cuda" (bf16 weights under that autocast:
    accelerate's FSDP ``MixedPrecision(param_dtype=bf16)`` with its autocast forward). ``output_held`` False drops
    the model output before ``backward`` (the HF Trainer's ``compute_loss`` returns the loss alone); ``wrap``
    wraps ``model.forward`` (e.g. accelerate's ``convert_outputs_to_fp32``). ``gpu_masks`` adds the dropout masks
    (``DROPOUT_MASK_FILLS``): ``dropout_masks`` (the saved ones still alive after the forward, ``[module, dtype,
    nbytes, elements]``) and ``live_gpu`` (``live_*`` with every mask at a GPU's 1 B an element).
    """
    if precision in ("bf16", "amp_bf16_w16_cuda"):
        model.to(torch.bfloat16)
    if gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.zero_grad(set_to_none=True)
    pre = {_local(p).untyped_storage().data_ptr() for p in model.parameters()}
    pre |= {t.untyped_storage().data_ptr() for t in inputs.values() if isinstance(t, torch.Tensor)}
    live = LiveTensors(exclude=pre)
    copies = WeightCopies(model.parameters())
    st = SavedTensors(model, gc, is_mask=live.is_mask if gpu_masks else None, is_weight=copies.holds)
    amp = (torch.autocast("cpu", dtype=torch.bfloat16) if precision.startswith("amp_bf16")
           else contextlib.nullcontext())
    policy = CudaAutocastPolicy() if precision.endswith("_cuda") else contextlib.nullcontext()
    forward = wrap(model.forward) if wrap else model.forward
    with live, copies:
        with st.hooks(), policy, amp:
            out = forward(**inputs)
        st.stop()
        res = st.summary()  # before backward frees the saved tensors
        tensors = st.tensors() if keep_tensors else None
        masks = st.dropout_masks() if gpu_masks else None
        peak_fwd = live.peak
        retained = live.snapshot()
        gpu = {"after_forward": live.live_gpu, "peak_forward": live.peak_gpu}
        loss = out.loss
        logits_bytes = out.logits.untyped_storage().nbytes()
        if not output_held:
            out = None
        loss.backward()
    grads = sum(_local(p.grad).untyped_storage().nbytes() for p in model.parameters() if p.grad is not None)
    res.update({"loss": round(float(loss.detach()), 5),
                "live_after_forward_bytes": retained, "live_peak_forward_bytes": peak_fwd,
                "live_peak_fwd_bwd_bytes": live.peak, "grad_bytes": grads,
                "logits_bytes": logits_bytes})
    if keep_tensors:
        res["tensors"] = tensors
    if gpu_masks:
        res["dropout_masks"] = masks
        res["live_gpu"] = dict(gpu, peak_fwd_bwd=live.peak_gpu)
    del out, loss
    return res
