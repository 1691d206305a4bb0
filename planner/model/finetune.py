"""Fine-tuning: full fine-tune, LoRA and QLoRA — trainable parameters, frozen-base storage, FLOPs,
saved activations.

A frozen base (``training.mode`` lora / qlora) changes four things (Hu et al. 2021, "LoRA";
Dettmers et al. 2023, "QLoRA"; peft ``tuners/lora/layer.py`` and ``tuners/lora/bnb.py``):

* **parameters**: each adapted linear (fan-in ``i``, fan-out ``o``) gains A (r x i) and B (o x r),
  ``r*(i+o)`` trainable parameters; the base is frozen: no gradient, no optimizer state;
* **FLOPs**: the forward adds ``2*r*(i+o)`` per token per adapter; the backward computes the
  input gradient through every frozen linear (``2*i*o``, so the base costs ~4N per token instead
  of 6N) but no weight gradient, except where the input needs no gradient — the first layer's
  projections that read the (frozen) embedding output, and their adapters' A (peft without
  gradient checkpointing: autograd skips them). Adapters: weight gradients of A and B plus the
  input gradients of B and (except there) of A. The attention core's backward is unchanged (2x).
  Checked to the FLOP against FlopCounterMode on peft runs (tests/data/peft_truth.json).
  Megatron-Core's Transformer Engine linears make the same two skips: ``Linear`` and
  ``LayerNormLinear`` record ``ctx.requires_wgrad = weight.requires_grad`` and
  ``ctx.requires_dgrad = inp.requires_grad`` and run only the GEMMs asked for
  (transformer_engine/pytorch/module/linear.py, layernorm_linear.py);
* **memory**: the base is stored as ``base_weights`` — bf16/fp32, bitsandbytes LLM.int8 (one byte
  per weight + an fp32 scale per output row) or NF4 (``bitsandbytes.functional.quantize_4bit``:
  two weights per byte, an absmax per block of 64 — with double quantisation an 8-bit absmax plus
  an fp32 absmax per 256 blocks, a 256-entry fp32 nested code and an fp32 offset per tensor; the
  16-entry fp32 NF4 code per tensor). Only the ``nn.Linear`` layers inside the blocks are
  quantised (transformers' bitsandbytes integration skips the output head, and in 5.x the fused
  3-D MoE expert parameters too: ``defaults.QUANTIZE_FUSED_EXPERTS``); peft's
  ``prepare_model_for_kbit_training`` casts every other parameter (embedding, head, norms) to
  fp32 (``defaults.QLORA_OTHER_BYTES``). Adapters are fp32 (peft's ``autocast_adapter_dtype``);
* **saved activations**: frozen linears keep no inputs, adapters keep theirs and a rank-r
  intermediate (``frozen_saved_delta``, a delta over ``activations_hf.hf_saved_bytes``'s
  full-training table; ``frozen_layer_activation_bytes`` feeds ``memory_per_gpu``).

MoE models in transformers 5.x hold the experts as fused 3-D parameters and the router as a custom
module; peft reaches them only through its config conversion and ``ParamWrapper``, which
materialises ``W + delta`` per forward (``PeftWrap``, ``PEFT_MOE``): a full weight gradient of
the experts, per-call FLOPs, and the materialised weight saved for backward.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

import numpy as np

from planner import defaults as D
from planner.errors import InputError, clip
from planner.model import physics
from planner.model.activations_hf import (PRECISIONS, hf_attn_impl, hf_block_rebuild, hf_model_type, hf_padded,
                                          hf_saved_parts,
                                          hf_stack_experts, hf_table_precision)
from planner.model.stack_kernels import hf_attn_choice
from planner.spec import ModelSpec, TrainingSpec
from planner.spec.params import count_params
from planner.spec.shapes import attention_weights
# (defined in spec, where the job's validator names the default stack by them: planner.spec.training_stack)
from planner.spec.training_stack import (BITSANDBYTES_BASES, base_weights, bitsandbytes_base,  # noqa: F401
                                         default_stack_name)


@dataclass(frozen=True)
class PeftMoE:
    """How peft 0.21 meets a transformers-5 MoE family: ``converts`` = the family is in peft's
    MoE config conversion (``_MODEL_TO_CONVERSION_PATTERN``: Mixtral, the Qwen2-MoE pattern —
    Qwen3-MoE, DeepSeek-V2/V3, ...), which targets the router and the fused experts by parameter;
    ``router_linear`` = the router is an ``nn.Linear`` (Llama 4's ``Llama4Router``), adapted per
    token by ``all-linear`` — its forward returns a tuple, which ``lora.Linear`` cannot take
    (peft_truth.json ``other_families_all_linear``: the forward fails)."""
    converts: bool = True
    router_linear: bool = False


PEFT_MOE = {"gpt_oss": PeftMoE(converts=False), "llama4_text": PeftMoE(converts=False, router_linear=True)}


@dataclass(frozen=True)
class Linear:
    name: str  # peft target name (the HF module name)
    fan_in: int
    fan_out: int
    per_token: float  # how many tokens it processes per token of input (MoE experts: top_k)
    copies: int = 1  # weight tensors of this shape per layer (MoE experts: E)
    reads_layer_input: bool = False  # an input projection of attention (reads the block input)
    reads: str = ""  # the input tensor it reads: linears reading the same one share its saved copy
    #: how transformers 5.x holds the weight, which decides how peft adapts it (``PEFT_WRAP``):
    #: "linear" = an ``nn.Linear`` (peft ``lora.Linear``; bitsandbytes quantises it), "param" = a
    #: bare parameter — the fused 3-D experts and the custom router modules (``MixtralTopKRouter``)
    #: — which peft adapts through ``ParamWrapper`` and bitsandbytes leaves alone
    module: str = "linear"
    fused: int = 1  # v4 projections fused into this tensor (experts' gate_up_proj: 2)
    #: the planner's projections this HF module holds (``HF_MODULES``; empty when not fused):
    #: the named target sets (``TARGET_SETS``) select a fused module through them
    parts: tuple = ()
    #: how a tensor-parallel stack splits it (Megatron-Core): "col" (output split), "row" (input
    #: split: o_proj, down_proj), "dup" (replicated: MLA's down-projections, the router)
    tp: str = "col"
    #: one adapter serves all the tensor's ``copies`` (Megatron-Bridge's grouped-expert adapter,
    #: ``ExpertAdapters.shared``): its tokens still run through it per token and expert
    shared_adapter: bool = False


@dataclass(frozen=True)
class PeftWrap:
    """How peft 0.21 applies LoRA to one kind of weight (``peft/tuners/lora/layer.py``).

    ``per_token``: ``lora.Linear.forward`` runs ``B(A(dropout(x)))`` on every token (A and B
    kept apart). Otherwise (``ParamWrapper``) the delta weight is materialised once per forward
    call and the base op runs on ``W + delta`` (``nn.utils.parametrize``): the base weight then
    gets a full weight gradient, which flows into A and B. ``evals_3d``: times a 3-D (expert)
    delta is computed per forward — ``register_parametrization`` evaluates the parametrisation
    once to check it (``ParametrizationList.__init__``) and the forward once more (cached), each a
    ``baddbmm`` of the factors (``_LoraFactorsProxy``); a 2-D one (the router) computes ``B @ A``
    once (``get_delta_weight``; the check re-adds it elementwise). ``rank_scale_fused``: peft's
    transformers-5 config conversion (``utils/transformers_weight_conversion.py``
    ``_convert_peft_config_moe``) gives a tensor fusing n v4 projections rank n*r (and alpha n*a).
    """
    per_token: bool
    evals_3d: int = 0
    rank_scale_fused: bool = False


PEFT_WRAP = {
    "linear": PeftWrap(per_token=True),
    "param": PeftWrap(per_token=False, evals_3d=2, rank_scale_fused=True),
}


#: Megatron-Core's transformer layer holds q, k, v in one ``linear_qkv`` and gate + up in one
#: ``linear_fc1`` (megatron/core/transformer/attention.py ``SelfAttention``, mlp.py ``MLP``), for
#: every model. LoRA on it adapts the fused module: one A (r x in) and one B (sum of the fan-outs
#: x r) — NeMo 1.x ``LoraKQVAdapter`` on ``attention_qkv`` (nemo/collections/nlp/modules/common/
#: megatron/adapters/parallel_adapters.py, a ``ParallelLinearAdapter``: linear_in in -> dim,
#: linear_out dim -> out), NeMo 2 / Megatron-Bridge ``LoRA(target_modules=["linear_qkv", ...])``.
#: The NeMo 1.x target names (megatron_gpt_finetuning_config.yaml ``lora_tuning.target_modules``:
#: attention_qkv, attention_dense, mlp_fc1, mlp_fc2) name the same modules.
MEGATRON_MODULES = {"linear_qkv": ("q_proj", "k_proj", "v_proj"), "linear_proj": ("o_proj",),
                    "linear_fc1": ("gate_proj", "up_proj"), "linear_fc2": ("down_proj",)}
NEMO1_TARGETS = {"attention_qkv": "linear_qkv", "attention_dense": "linear_proj", "mlp_fc1": "linear_fc1",
                 "mlp_fc2": "linear_fc2"}
#: Megatron-Core's MLA (megatron/core/transformer/multi_latent_attention.py ``MLASelfAttention``) keeps its
#: projections apart, under its own names: ``linear_q_proj`` (no ``q_lora_rank``) or ``linear_q_down_proj`` /
#: ``linear_q_up_proj``, ``linear_kv_down_proj`` (hidden -> kv_lora_rank + qk_pos_emb_head_dim) and
#: ``linear_kv_up_proj``, then ``linear_proj``; there is no ``linear_qkv``. Each is a rename of the HF projection of
#: the same shape (Megatron-Bridge's DeepSeek bridge maps q_a_proj <-> linear_q_down_proj, kv_a_proj_with_mqa <->
#: linear_kv_down_proj, ...). The MLP's modules are the dense table's.
MEGATRON_MLA_MODULES = {"linear_q_proj": ("q_proj",), "linear_q_down_proj": ("q_a_proj",),
                        "linear_q_up_proj": ("q_b_proj",), "linear_kv_down_proj": ("kv_a_proj_with_mqa",),
                        "linear_kv_up_proj": ("kv_b_proj",)} | {
    k: v for k, v in MEGATRON_MODULES.items() if k != "linear_qkv"}
#: Megatron-Bridge's ``LoRA`` / ``ModuleMatcher`` default ``target_modules`` (src/megatron/bridge/peft/lora.py,
#: module_matcher.py), the list ``all-linear`` stands for on the Megatron-Core stacks. ``match`` takes a module whose
#: own name equals an entry: on a dense model one adapter per fused module (A: r x h, B: (q + 2 kv) x r on
#: ``linear_qkv``; B: 2 ffn x r on a gated ``linear_fc1``), on an MLA model only ``linear_proj`` of the attention
#: (``linear_qkv`` names none of MLA's projections: "the all-linear default maps to dense-attention names that match
#: none of its MLA projections", so DeepSeek fine-tuning scripts name linear_q_down_proj ... themselves; the current
#: ``PEFT.__call__`` even raises "No modules matched the requested target_modules entries: linear_qkv" there).
MEGATRON_DEFAULT_TARGETS = ("linear_qkv", "linear_proj", "linear_fc1", "linear_fc2")


def _megatron_names(targets) -> list[str]:
    """The entries of a target list that are Megatron-Core module names (``MEGATRON_MODULES``,
    ``MEGATRON_MLA_MODULES``, NeMo 1.x ``NEMO1_TARGETS``)."""
    if not isinstance(targets, list):
        return []
    return sorted(x for x in targets if x in MEGATRON_MODULES or x in MEGATRON_MLA_MODULES or x in NEMO1_TARGETS)


@dataclass(frozen=True)
class ExpertAdapters:
    """How a stack's LoRA code adapts a MoE layer's routed experts and router (``EXPERT_ADAPTERS``).

    ``wrap``: the ``PEFT_WRAP`` kind those tensors take — "param" = peft's ``ParamWrapper`` (``W + delta``
    per call, a full weight gradient of the experts), "linear" = an adapter run on every token (and routed
    expert) beside the frozen base op, which keeps no weight gradient. ``shared``: one adapter (A: r x in,
    B: out x r) for all of a layer's experts instead of one per expert. ``router_name`` / ``expert_names``:
    the module names the stack's target list uses for them. ``source``: the words the finetune line prints.
    ``modules``: the fused-module table of the stack's model code, which its named target sets (``all-linear``,
    ``qkvo``) adapt (None: the HF family's, ``HF_MODULES``; ``MEGATRON_MODULES``: Megatron-Core's ``linear_qkv`` /
    ``linear_fc1``, one adapter each). ``all_linear``: the target list ``targets: all-linear`` stands for (None: every
    linear of the blocks, peft's ``_maybe_include_all_linear_layers``, and through its MoE conversion the router
    parameter; Megatron-Bridge: its default list, ``MEGATRON_DEFAULT_TARGETS``, which has no router and no MLA
    projection but ``linear_proj``)."""
    wrap: str
    shared: bool
    source: str
    router_name: str = "gate"
    expert_names: tuple = ("experts.gate_up_proj", "experts.down_proj")
    modules: dict | None = None
    all_linear: tuple | None = None


#: per runtime (planner.model.stack_rules ``RUNTIMES``; peft's for any other):
#:
#: * "hf": peft 0.21 on transformers 5.x (``PeftWrap``, ``PEFT_MOE``): ``ParamWrapper`` on the fused 3-D
#:   experts and the router;
#: * "megatron": Megatron-Bridge ``src/megatron/bridge/peft/lora.py`` ``LoRA.transform`` wraps every matched
#:   Megatron-Core linear — the experts' ``linear_fc1`` / ``linear_fc2`` (``TEColumnParallelGroupedLinear`` /
#:   ``TERowParallelGroupedLinear``) and a ``TopKRouter`` (``LoRATopKRouter``) included — in a
#:   ``ParallelLinearAdapter`` (``peft/utils.py``: ``linear_in`` in -> dim, ``linear_out`` dim -> out, with
#:   ``is_expert=is_expert_linear(name)``: ``.*mlp\..*experts.*\.linear_fc[1-2]$``, not shared experts);
#:   ``LoRALinear.forward`` (``lora_layers.py``) adds ``adapter(x)`` to the base output, so the adapter runs on
#:   the permuted tokens, one row per token and routed expert, at rank ``dim`` (not 2r for the fused fc1). A
#:   grouped expert linear gets one adapter for the rank's local experts (``_uses_grouped_expert_sharding``:
#:   "shared adapter", its gradient summed over EP). ``PEFT.freeze_model`` sets ``requires_grad=False`` on the
#:   base, and Transformer Engine's grouped GEMM runs its weight gradient only when
#:   ``ctx.weights_requires_grad = weights[0].requires_grad`` (transformer_engine/pytorch/module/
#:   grouped_linear.py). NeMo 2 (``nemo/collections/llm/peft/lora.py``) builds the same ``ParallelLinearAdapter``.
#:   Its default target list, which ``all-linear`` stands for there, is ``["linear_qkv", "linear_proj",
#:   "linear_fc1", "linear_fc2"]`` (``peft/module_matcher.py`` ``ModuleMatcher.target_modules``; ``match`` takes a
#:   module whose own name equals a pattern): the routed experts' and the shared experts' (``mlp.shared_experts.
#:   linear_fc1``, Megatron-Core's ``SharedExpertMLP``, an ``MLP``) ``linear_fc1`` / ``linear_fc2`` match, the
#:   ``mlp.router`` does not (``all_linear``; until left47 adapted here). Its ``linear_qkv`` / ``linear_fc1`` are fused
#:   (``modules``): ``all-linear`` adapts them with one adapter each (until left47b as q/k/v and gate/up apart).
#:   Megatron-Bridge's ``CanonicalLoRA`` (peft/canonical_lora.py: ``linear_q`` / ``linear_k`` / ``linear_v``,
#:   ``linear_fc1_up`` / ``linear_fc1_gate`` adapters, the experts' fc1 kept whole) is not modelled.
EXPERT_ADAPTERS = {
    "hf": ExpertAdapters("param", False, "peft's ParamWrapper runs them on W + delta"),
    "megatron": ExpertAdapters("linear", True, "Megatron-Bridge / NeMo 2 ParallelLinearAdapter: one adapter per "
                               "token and routed expert beside the frozen grouped GEMM, no weight gradient",
                               router_name="router", expert_names=("experts.linear_fc1", "experts.linear_fc2"),
                               modules=MEGATRON_MODULES, all_linear=MEGATRON_DEFAULT_TARGETS),
}


def expert_adapters(t: TrainingSpec) -> ExpertAdapters:
    """The ``EXPERT_ADAPTERS`` entry of the stack ``t`` names (an open ``training.framework``: the default stack,
    planner.spec.training_stack ``default_stack_name``, else ``defaults.FRAMEWORK``); peft's for a stack of no runtime
    there."""
    from planner.model.stack_rules import runtime

    spec = getattr(t, "framework", None)
    name = spec.name if spec is not None else default_stack_name(t) or D.FRAMEWORK
    return EXPERT_ADAPTERS.get(runtime(name), EXPERT_ADAPTERS["hf"])


def on_stack(t: TrainingSpec, stack) -> TrainingSpec:
    """``t`` naming ``stack`` (a name or planner.model.stacks ``Stack``; None: ``t`` as it is) where a frozen base's
    pricing reads the stack from ``t`` (``expert_adapters``) and a call times it on another stack than ``t`` names
    (step_time's ``framework``); ``t`` itself when it names that stack already (a search's own job)."""
    name = getattr(stack, "name", stack)
    if name is None or getattr(t, "mode", None) not in ("lora", "qlora") or t.lora is None:
        return t
    spec = getattr(t, "framework", None)
    if spec is not None and spec.name == name:
        return t
    from planner.spec.schema import FrameworkSpec

    fw = spec.model_copy(update={"name": name}) if spec is not None else FrameworkSpec(name=name)
    return t.model_copy(update={"framework": fw})


def _stack_wrap(L: Linear, ea: ExpertAdapters, layout: dict | None) -> Linear:
    """``L`` as the stack's LoRA code adapts it: a bare parameter (fused experts, router module) becomes a
    per-token linear where the stack wraps it so (``ExpertAdapters.wrap``), named as the stack's targets name it
    under its ``layout`` (the experts keep their parts: q/k/v-style target sets still reach them)."""
    if L.module != "param" or ea.wrap == "param":
        return L
    experts = L.copies > 1
    parts = (("down_proj",) if L.tp == "row" else ("gate_proj", "up_proj")) if experts else ()
    name = L.name
    if layout is MEGATRON_MODULES:
        name = ea.expert_names[L.tp == "row"] if experts else ea.router_name
    return replace(L, module=ea.wrap, name=name, parts=parts, shared_adapter=ea.shared and experts)


#: peft ``target_modules`` aliases: which HF module names each named set covers
TARGET_SETS = {
    "qkvo": ("q_proj", "k_proj", "v_proj", "o_proj", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj"),
    "all-linear": None,  # every linear inside the blocks
}


#: transformers modules that hold several of the planner's projections in one weight, per
#: ``model_type``: HF module name -> the projections (``layer_linears``' names) it holds, their
#: fan-outs concatenated over one input. ``modeling_phi3.py``: ``Phi3Attention.qkv_proj``
#: (h -> q + 2 kv), ``Phi3MLP.gate_up_proj`` (h -> 2f); ``modeling_gpt2.py``: ``GPT2Attention.c_attn``
#: (h -> 3h), ``c_proj``, ``GPT2MLP.c_fc`` / ``c_proj`` — ``Conv1D``s, which peft's "all-linear"
#: takes as linears (``tuners_utils._maybe_include_all_linear_layers``: ``(nn.Linear, Conv1D)``).
#: peft adapts such a module as one ``lora.Linear`` (``tuners/lora/layer.py`` ``update_layer``:
#: ``lora_A = nn.Linear(in_features, r)``, ``lora_B = nn.Linear(r, out_features)``): one A
#: (r x in) and one B (sum of the fan-outs x r). A module of one part is a rename.
HF_MODULES = {
    "phi3": {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")},
    "gpt2": {"attn.c_attn": ("q_proj", "k_proj", "v_proj"), "attn.c_proj": ("o_proj",),
             "mlp.c_fc": ("up_proj",), "mlp.c_proj": ("down_proj",)},
}


def module_layout(t: TrainingSpec, ea: ExpertAdapters | None = None) -> dict | None:
    """The fused-module table LoRA's targets name: Megatron-Core's (``MEGATRON_MODULES``) when the
    targets are its module names (or NeMo 1.x's), the stack's own (``ExpertAdapters.modules``) for a
    named set (``all-linear``, ``qkvo``), else None (the HF family's, ``HF_MODULES``)."""
    targets = t.lora.targets if t.lora is not None else ()
    if _megatron_names(targets):
        return MEGATRON_MODULES
    return (ea or expert_adapters(t)).modules if isinstance(targets, str) else None


def _hf_modules(m: ModelSpec, lins: list[Linear], layout: dict | None = None) -> list[Linear]:
    """``lins`` with the fused modules (``layout``; default the HF family's ``HF_MODULES``) in
    place of their parts (a part the model lacks — gate_proj of an ungated MLP — is skipped)."""
    table = HF_MODULES.get(hf_model_type(m), {}) if layout is None else layout
    if layout is MEGATRON_MODULES and m.mla is not None:
        table = MEGATRON_MLA_MODULES  # MLA's projections stay apart (no linear_qkv)
    by_name = {L.name: L for L in lins}
    out, done = [], set()
    for L in lins:
        # a prefixed module (``shared_experts.gate_proj``) fuses as its own name does, under its prefix: Megatron-Core's
        # ``mlp.shared_experts.linear_fc1`` (``SharedExpertMLP``, an ``MLP``). The routed experts' bare parameters
        # are the stack's (``_stack_wrap``). Until left47 only unprefixed names fused
        prefix, _, short = L.name.rpartition(".")
        hit = None if L.module == "param" else next(((hf, parts) for hf, parts in table.items() if short in parts), None)
        if hit is None:
            out.append(L)
            continue
        under = (lambda x: f"{prefix}.{x}") if prefix else (lambda x: x)  # noqa: E731
        if under(hit[0]) not in done:
            done.add(under(hit[0]))
            held = [by_name[under(p)] for p in hit[1] if under(p) in by_name]
            out.append(replace(L, name=under(hit[0]), fan_out=sum(x.fan_out for x in held), parts=hit[1]))
    return out


#: the HF module (transformers ``LlamaAttention`` / ``DeepseekV3Attention``) of each attention projection of
#: planner.spec.shapes ``attention_weights``, and the input it reads ("attn_in": the block input)
HF_ATTENTION = {"wq": ("q_proj", "attn_in"), "wk": ("k_proj", "attn_in"), "wv": ("v_proj", "attn_in"),
                "wq_a": ("q_a_proj", "attn_in"), "wq_b": ("q_b_proj", "q_b_in"),
                "wkv_a": ("kv_a_proj_with_mqa", "attn_in"), "wkv_b": ("kv_b_proj", "kv_b_in"), "wo": ("o_proj", "o_in")}
#: ``Linear.tp`` of each planner.spec.shapes ``Weight.shard``
HF_TP = {"tp": "col", "row": "row", "none": "dup"}


def layer_linears(m: ModelSpec, moe: bool, layout: dict | None = None) -> list[Linear]:
    """The linears of one block as the HF modelling code names and fuses them (``HF_MODULES``;
    MLA: transformers ``DeepseekV3Attention``; MoE: router ``gate``, fused ``experts``,
    ``shared_experts``), or as ``layout`` fuses them (``MEGATRON_MODULES``)."""
    h, f = m.hidden, m.ffn_hidden
    out: list[Linear] = []
    for w in attention_weights(m):
        name, reads = HF_ATTENTION[w.name]
        out.append(Linear(name, w.k, w.n, 1, reads_layer_input=reads == "attn_in", reads=reads, tp=HF_TP[w.shard]))

    def mlp(prefix, width, per_token, copies=1, reads_in="mlp_in"):
        if m.gated and copies > 1:  # fused gate_up_proj (E, 2f, h) in transformers 5.x
            return [Linear(prefix + "gate_up_proj", h, 2 * width, per_token, copies, reads=prefix + "in",
                           module="param", fused=2),
                    Linear(prefix + "down_proj", width, h, per_token, copies, reads=prefix + "down_in",
                           module="param", tp="row")]
        param = "param" if copies > 1 else "linear"
        ups = ["gate_proj", "up_proj"] if m.gated else ["up_proj"]
        return [Linear(prefix + u, h, width, per_token, copies, reads=reads_in, module=param) for u in ups] + [
            Linear(prefix + "down_proj", width, h, per_token, copies, reads=prefix + "down_in", module=param,
                   tp="row")]

    if not moe:
        return _hf_modules(m, out + mlp("", m.dense_width, 1), layout)
    e = m.moe
    routed = e.experts if e.all_experts_compute else e.top_k
    router = "linear" if PEFT_MOE.get(hf_model_type(m), PeftMoE()).router_linear else "param"
    out.append(Linear("gate", h, e.experts, 1, reads="mlp_in", module=router, tp="dup"))
    out += mlp("experts.", f, routed / e.experts, e.experts)
    if e.shared_experts:  # reads the router's input
        out += mlp("shared_experts.", e.shared_ffn_hidden or e.shared_experts * f, 1)
    return _hf_modules(m, out, layout)


#: peft's transformers-5 MoE conversion (``utils/transformers_weight_conversion.py``
#: ``_MOE_TARGET_MODULE_MAPPING``, Mixtral and the Qwen2-MoE pattern): v4 module names -> the
#: parameter that now holds them; a name found here leaves ``target_modules`` for
#: ``target_parameters``, so on an MoE model no ``nn.Linear`` of that name is adapted
PEFT_MOE_TARGETS = {"gate": "gate", "gate_proj": "experts.gate_up_proj", "up_proj": "experts.gate_up_proj",
                    "down_proj": "experts.down_proj", "w1": "experts.gate_up_proj",
                    "w3": "experts.gate_up_proj", "w2": "experts.down_proj"}


def _targeted(lin: Linear, targets, converts: bool = False) -> bool:
    """Does peft adapt this linear? ``all-linear`` = every ``nn.Linear`` in the blocks. On an MoE
    model peft first converts the config (``PEFT_MOE_TARGETS``; ``all-linear`` names them all): the
    router and the fused experts become target parameters, and shared experts and the dense MLPs
    — ``nn.Linear``s named ``gate_proj``/``up_proj``/``down_proj`` — are *not* adapted (measured
    on tiny Qwen3-MoE and DeepSeek-V3, ``peft_truth.json`` ``moe_all_linear``)."""
    alias = isinstance(targets, str)  # a named set: it selects a fused module through its parts
    if targets == "all-linear":
        names = None
    else:
        names = set(TARGET_SETS.get(targets) or ()) if alias else {NEMO1_TARGETS.get(x, x) for x in targets}
    if names and names & set(lin.parts) and (alias or lin.shared_adapter):
        return True
    short = lin.name.split(".")[-1]
    if lin.module == "param" and not converts:
        return False  # a bare parameter: only peft's MoE conversion (or target_parameters) reaches it
    if converts and lin.module == "param":
        return names is None or lin.name in names or "experts" in names and lin.copies > 1 or any(
            PEFT_MOE_TARGETS.get(n) == lin.name for n in names)
    if converts and short in PEFT_MOE_TARGETS:
        return False
    return names is None or lin.name in names or short in names


def _rank(lin: Linear, r: int) -> int:
    """The adapter rank peft gives this tensor (``PeftWrap.rank_scale_fused``)."""
    return r * lin.fused if PEFT_WRAP[lin.module].rank_scale_fused else r


def adapted(m: ModelSpec, t: TrainingSpec):
    """(is_moe, layer count, contains layer 0, linear, its adapter rank or 0) for every linear kind."""
    converts, lins = _block_linears(m, t)
    ea = expert_adapters(t)
    targets = stack_targets(t.lora.targets, ea)
    for moe, n, first, L in lins:
        on = _targeted(L, targets, converts)
        yield moe, n, first, L, (_rank(L, t.lora.rank) if on else 0)


def stack_targets(targets, ea: ExpertAdapters):
    """``targets`` as the stack's LoRA code reads them: ``all-linear`` is the stack's default list where it has one
    (``ExpertAdapters.all_linear``: Megatron-Bridge's, no router, MLA's ``linear_proj`` only)."""
    return list(ea.all_linear) if targets == "all-linear" and ea.all_linear is not None else targets


def _block_linears(m: ModelSpec, t: TrainingSpec) -> tuple[bool, list]:
    """(whether peft's MoE config conversion applies, [(is_moe, layer count, contains layer 0, linear)]): the
    blocks' linears as the stack's LoRA code meets them (``expert_adapters``, ``_stack_wrap``). peft's conversion
    (``PEFT_MOE``) is peft's: a stack that wraps the experts per token matches its own names."""
    ea = expert_adapters(t)
    converts = m.moe is not None and PEFT_MOE.get(hf_model_type(m), PeftMoE()).converts and ea.wrap == "param"
    layout = module_layout(t, ea)
    return converts, [(moe, n, first, _stack_wrap(L, ea, layout)) for moe, n, first in _layers(m) if n
                      for L in layer_linears(m, moe, layout)]


def _layers(m: ModelSpec):
    """(is_moe, count, contains layer 0) per kind of block."""
    n_moe = m.moe_layers
    first_is_moe = 0 in m.moe_layer_ids
    return [(False, m.layers - n_moe, not first_is_moe), (True, n_moe, first_is_moe)]


def adapter_params(m: ModelSpec, t: TrainingSpec) -> int:
    """Trainable LoRA parameters: r*(fan_in + fan_out) per targeted weight tensor (an expert
    tensor of E experts: ``ParamWrapper``'s A (r*E x in) and B (out x r*E), at rank 2r for the
    fused gate_up_proj; one A and B for all E where the stack shares one, ``Linear.shared_adapter``)."""
    return sum(n * r * (L.fan_in + L.fan_out) * _adapter_copies(L) for _, n, _, L, r in adapted(m, t))


def _adapter_copies(L: Linear) -> int:
    """Adapters of this tensor kind per layer: one per weight tensor, one in all when shared."""
    return 1 if L.shared_adapter else L.copies


def adapter_whole_params(m: ModelSpec, t: TrainingSpec, attention_split: bool, dense_split: bool,
                         moe_split: bool = False) -> int:
    """The adapters of the modules an HF plan leaves whole on every rank: a router's and a shared expert's (unless
    ``moe_split``), the attention's unless the plan splits it (``attention_split``), a dense layer's MLP unless it
    splits that (``dense_split``). peft wraps the module each rank holds
    (peft/tuners/lora/layer.py ``LoraLayer.update_layer`` sizes A and B from the base layer's in / out features), so
    a whole base layer gets whole adapters; the routed experts' adapters follow their ``grouped_gemm`` shards. Under
    a TP plan that splits the MoE MLP (``moe_split``: moe ``HF_TP_PLANS``, shared experts ``colwise`` / ``rowwise``)
    only the attention's and dense MLP's are counted."""
    attention = {name for name, _ in HF_ATTENTION.values()}
    whole = 0
    for moe, n, _, L, r in adapted(m, t):
        is_attn = L.name in attention
        if not r or (moe and (L.name.startswith("experts.") or (moe_split and not is_attn))) or (is_attn and attention_split) or (
                not moe and not is_attn and dense_split):
            continue
        whole += n * r * (L.fan_in + L.fan_out) * _adapter_copies(L)
    return whole


#: the modules outside the transformer blocks a ``target_modules`` list can name, per transformers ``model_type``
#: (default: the Llama-style ``model.embed_tokens`` and ``lm_head``; modeling_gpt2.py ``wte`` / ``wpe``,
#: modeling_bert.py ``BertEmbeddings`` and the MLM head's ``cls.predictions.decoder``). peft adapts them when
#: named (peft/tuners/lora/model.py ``dispatch_default``: an ``nn.Embedding`` becomes ``lora.Embedding``, the
#: head an ``nn.Linear``; only ``all-linear`` leaves the output layer out, ``_maybe_include_all_linear_layers``),
#: while ``adapted`` counts the linears inside the blocks only
OUTSIDE_BLOCKS = {"gpt2": ("wte", "wpe", "lm_head"),
                  "bert": ("word_embeddings", "position_embeddings", "token_type_embeddings", "decoder")}
DEFAULT_OUTSIDE_BLOCKS = ("embed_tokens", "lm_head")


def check_targets(m: ModelSpec, t: TrainingSpec, runtime: str | None = None) -> None:
    """Refuse LoRA targets that adapt nothing. peft raises when no module of the model matches
    ``target_modules`` (peft/tuners/tuners_utils.py ``BaseTuner.inject_adapter``: "Target modules
    ... not found in the base model. Please check the target modules and try again."); a plan for
    it would train no parameter (no gradients, no optimizer state). On the Hugging Face model code
    (``runtime`` "hf", planner.model.stack_rules.RUNTIMES) Megatron-Core's fused module names
    (``MEGATRON_MODULES``, NeMo 1.x ``NEMO1_TARGETS``) name no module either: transformers' Llama
    holds ``q_proj``/``k_proj``/``v_proj``, not ``linear_qkv`` (modeling_llama.py ``LlamaAttention``)."""
    if t.mode not in ("lora", "qlora") or t.lora is None or not m.is_transformer:
        return
    targets = t.lora.targets
    field = "training.lora.targets"
    megatron = _megatron_names(targets)
    if runtime == "hf" and megatron:
        raise InputError(field, f"{', '.join(megatron)}: Megatron-Core module names, which the Hugging Face model code "
                                "(peft) does not have; use q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, "
                                "qkvo or all-linear")
    outside = OUTSIDE_BLOCKS.get(hf_model_type(m), DEFAULT_OUTSIDE_BLOCKS)
    named = [x for x in targets if x in outside] if isinstance(targets, list) else []
    if named:
        # peft would train them; counting none of their parameters, FLOPs or state would price another run
        # (QA 48: [q_proj, v_proj, lm_head] was priced as q_proj, v_proj; [lm_head] alone read "peft refuses it")
        raise InputError(field, f"{', '.join(named)}: the embedding / output head, outside the transformer blocks: peft "
                                f"adapts them when named (lora.Embedding, lora.Linear: r x (vocab + hidden) each, "
                                f"{t.lora.rank * (m.vocab + m.hidden):,} parameters here), which this planner does not "
                                "model (it counts the adapters inside the blocks); leave them out of the targets")
    if adapter_params(m, t) == 0:
        layout = module_layout(t) or expert_adapters(t).modules  # the names the stack's model code has
        have = sorted({L.name.split(".")[-1] for moe, n, _ in _layers(m) if n for L in layer_linears(m, moe, layout)})
        raise InputError(field, f"{clip(targets, 80)} adapt no linear of model {clip(m.name, 40)} (peft refuses it: target "
                                f"modules not found); its linears: {', '.join(have)} (or qkvo, all-linear)")


def unmatched_targets(m: ModelSpec, t: TrainingSpec) -> list[str]:
    """The names of a ``training.lora.targets`` list that match no module of the model. peft raises only when no
    name matches (peft/tuners/tuners_utils.py ``BaseTuner.inject_adapter``: "Target modules ... not found in the
    base model", ``check_targets``); beside a name that matches, the others are passed over without a word, so the
    plan says which (QA 48: ``[q_proj, v_proj, foo]`` read "rank 16, q_proj,v_proj,foo" as if foo were adapted)."""
    if t.mode not in ("lora", "qlora") or t.lora is None or not isinstance(t.lora.targets, list) or not m.is_transformer:
        return []
    converts, lins = _block_linears(m, t)
    return [x for x in t.lora.targets if not any(_targeted(L, [x], converts) for *_, L in lins)]


def trainable_params(m: ModelSpec, t: TrainingSpec) -> int:
    """Parameters with gradients and optimizer state: all of them (pretrain, full_finetune) or
    the adapters (lora, qlora)."""
    if t.mode in ("lora", "qlora") and m.is_transformer:
        return adapter_params(m, t)
    return count_params(m).total


def quantized_bytes(n: float, out_rows: float, kind: str, double_quant: bool = True) -> float:
    """Bytes of one stored weight tensor of ``n`` elements (``out_rows`` output rows)."""
    if kind == "nf4":
        blocks = math.ceil(n / D.NF4_BLOCK)
        if double_quant:
            scales = blocks + 4 * math.ceil(blocks / D.NF4_NESTED_BLOCK) + 4 + 256 * 4
        else:
            scales = 4 * blocks
        return math.ceil(n / 2) + scales + 16 * 4
    if kind == "int8":
        return n + 4 * out_rows
    return n * PARAM_BYTES[kind]


def frozen_storage_bytes(m: ModelSpec, t: TrainingSpec, stack=None, rest_b: float | None = None) -> float:
    """Bytes of the frozen base on one replica (before any parallel split) on ``stack``: as loaded
    (``base_weights``; a bitsandbytes base's unquantised rest fp32, ``defaults.QLORA_OTHER_BYTES``), except where the
    stack's engine casts the whole module after ``get_peft_model`` (``engine_casts_module``): every floating parameter
    is then 16-bit, an fp32 base's and a bitsandbytes base's fp32 rest (norms, embedding, head) alike, while the packed
    uint8 NF4 / int8 weights are no floating tensors and stay (``nn.Module._apply`` with ``t.bfloat16()`` on floating
    tensors only). Checked on CPU (lorads50b; peft 0.21.2, transformers 5.23.0, torch 2.13, bitsandbytes 0.50.2, the
    tiny Llama, LoRA r16 all-linear): an fp32-loaded base after ``get_peft_model`` + ``model.bfloat16()`` holds
    213,632 B for 106,816 frozen parameters (2 B each); an NF4 base after ``prepare_model_for_kbit_training`` keeps
    its 36,864 uint8 bytes and its 33,088 fp32 parameters go 132,352 -> 66,176 B. ``rest_b``: a bitsandbytes base's
    rest at the bytes its wrapper keeps it in, where the caller knows (torch FSDP1's one-dtype FlatParameter,
    planner.model.memory ``weight_storage``)."""
    kind = base_weights(t)
    total = count_params(m).total
    cast = engine_casts_module(t, stack)
    if kind in ("fp32", "bf16"):
        return quantized_bytes(total, 0, "bf16" if cast else kind)
    q_bytes, q_params = _bitsandbytes_part(m, t)
    if rest_b is None:
        rest_b = PARAM_BYTES["bf16"] if cast else D.QLORA_OTHER_BYTES
    return q_bytes + (total - q_params) * rest_b


def engine_casts_module(t: TrainingSpec, stack) -> bool:
    """Whether ``stack``'s engine casts the whole peft model it is handed to 16 bits, frozen base and adapters alike
    (``Stack.casts_adapters``: DeepSpeed's bf16 / fp16 engine, engine.py ``_configure_distributed_model`` ->
    ``self.module.bfloat16()`` / ``module.half()``); the one rule ``adapter_bytes_on`` and ``frozen_storage_bytes``
    read."""
    return stack is not None and stack.casts_adapters(t)


def quantized_params(m: ModelSpec, t: TrainingSpec) -> float:
    """Parameters of the frozen base that bitsandbytes stores quantised (the ``nn.Linear`` layers inside the
    blocks, ``_bitsandbytes_part``); the whole base for a 16/32-bit one. The rest is fp32 under
    ``prepare_model_for_kbit_training`` (``frozen_storage_bytes``)."""
    if base_weights(t) in ("fp32", "bf16"):
        return float(count_params(m).total)
    return _bitsandbytes_part(m, t)[1]


def _bitsandbytes_part(m: ModelSpec, t: TrainingSpec, packed_only: bool = False) -> tuple[float, float]:
    """(bytes, parameters) of the layers a bitsandbytes base quantises; ``packed_only``: their packed weights' bytes
    alone (NF4: ``ceil(n / 2)`` a tensor, no quantisation state)."""
    kind = base_weights(t)
    q_bytes = q_params = 0.0
    for moe, n, _ in _layers(m):
        if not n:
            continue
        for L in layer_linears(m, moe):
            if L.module != "linear" and not (L.copies > 1 and D.QUANTIZE_FUSED_EXPERTS):
                continue  # not an nn.Linear (fused experts, router modules): unquantised, with the rest
            w = L.fan_in * L.fan_out
            q_bytes += n * L.copies * (math.ceil(w / 2) if packed_only and kind == "nf4"
                                       else quantized_bytes(w, L.fan_out, kind, t.double_quant))
            q_params += n * L.copies * w
    return q_bytes, q_params


def bitsandbytes_layer_bytes(m: ModelSpec, t: TrainingSpec, state_only: bool = False) -> tuple[float, float]:
    """(share of the model's parameters a bitsandbytes base quantises, bytes per quantised parameter a sharding
    wrapper leaves whole on every rank; planner.model.memory ``state_weights``, which applies them to the rank's
    parameters). (0, 0) for a 16/32-bit base. Until qlora54 the share was of the blocks' linears, and so applied to
    the embedding, head and norms too (Llama-3.1-8B: 13% of its parameters, 0.38 GiB a rank at CP 8).

    * FSDP2 (``state_only`` False): every stored byte. accelerate's ``fsdp2_prepare_model`` passes the non-floating
      (uint8, bitsandbytes' default ``quant_storage``) ``Params4bit`` to ``fully_shard`` as ``ignored_params``
      (huggingface/accelerate PR #3987, merged 2026-04, fixing issue #3983: before it ``fully_shard`` raised "only
      Tensors of floating point dtype can require gradients" or trained on destroyed quant states); a float
      ``bnb_4bit_quant_storage`` under ``fully_shard`` loses the ``quant_state`` (bitsandbytes issue #1945).
    * FSDP1 with a float ``bnb_4bit_quant_storage`` (``state_only`` True): the quantisation state alone
      (``quantized_bytes`` less the packed ``ceil(n / 2)`` bytes: the absmax per 64-block, with double quantisation
      its 8-bit codes + fp32 absmax per 256 of them, the NF4 code). bitsandbytes nn/modules.py keeps it as a
      ``QuantState`` attribute of ``Params4bit`` and of ``Linear4bit`` (``fix_4bit_weight_quant_state_from_module``
      restores it "when the parameter got converted ... for fsdp"): no parameter or buffer, so FSDP1's
      FlatParameter holds the packed storage elements only and every rank keeps each layer's state whole.
      Llama-3.1-70B, NF4 with double quantisation: 0.0159 B a quantised parameter, 1.01 GiB a rank. DeepSpeed
      ZeRO-3 likewise (it partitions ``nn.Parameter`` data only: ``Stack.bnb_whole_at_zero3``; until qlora54b its
      states were partitioned with the packed weights)."""
    if not bitsandbytes_base(t):
        return 0.0, 0.0
    q_bytes, q_params = _bitsandbytes_part(m, t)
    if state_only:
        q_bytes -= _bitsandbytes_part(m, t, packed_only=True)[0]
    total = count_params(m).total
    return (q_params / total if total else 0.0), (q_bytes / q_params if q_params else 0.0)


def bitsandbytes_gather_bytes(m: ModelSpec, t: TrainingSpec, ignored: bool, other_b: float,
                              blocks: bool = False) -> float:
    """Bytes a parameter, averaged over the frozen base (``blocks``: over its decoder blocks alone, the FSDP unit a
    layer gathers), that a ZeRO-3 wrapper all-gathers of a bitsandbytes base: its quantised linears' packed weights
    as stored (NF4: ``ceil(n / 2)`` bytes a tensor, carried as ``bnb_4bit_quant_storage`` elements: a bf16 element
    holds four 4-bit values), no quantisation state (a ``QuantState`` attribute, no parameter:
    ``bitsandbytes_layer_bytes``), and none of them where the wrapper leaves them out (``ignored``: FSDP2's
    ``ignored_params``, accelerate PR #3987); the rest (norms, embedding, head, unquantised fused experts) at
    ``other_b``, the wrapper's 16-bit gather width. FSDP1 (transformers trainer ``update_fsdp_plugin_peft``:
    ``set_mixed_precision(bnb_4bit_quant_storage)``, so ``param_dtype`` is the storage dtype and the packed elements
    are gathered uncast) and DeepSpeed ZeRO-3 (its partition's dtype, the storage's) gather the packed weights.
    Llama-3.1-70B NF4, ``other_b`` 2: 0.545 B a parameter over the base, 0.500 over the blocks; ignored 0.060 / 0.000.
    Until qlora54 the step's gathers moved 2 B a parameter of every bitsandbytes base (4x the packed weights)."""
    pc = count_params(m)
    total = float(pc.total)
    if blocks:
        total -= pc.embedding + pc.lm_head + pc.final_norm
    packed, q_params = _bitsandbytes_part(m, t, packed_only=True)
    if total <= 0:
        return other_b
    return ((0.0 if ignored else packed) + (total - q_params) * other_b) / total


def finetune_flops_per_token(m: ModelSpec, t: TrainingSpec, seq) -> dict:
    """Forward and backward matmul FLOPs per token under a frozen base (module docstring);
    attention core counted in full (no causal halving), as ``step_flops``, over ``seq`` keys
    per query (the attention span, ``flops.attention_span``; only the attention depends on it).

    ``fwd_call`` / ``bwd_call``: FLOPs per forward call (per micro-batch, whatever its tokens) of
    the adapters peft materialises as delta weights (``PeftWrap``): ``evals_3d`` baddbmm's of
    2*E*out*r*in forward, the two factor gradients backward; the router's ``B @ A`` once."""
    from planner.model.flops import attention_flops_per_token, linear_flops_per_token

    lin = linear_flops_per_token(m)
    base_lin = sum(lin.values())
    attn = attention_flops_per_token(m, seq, windowed=False)
    ad_fwd = ad_bwd = skip = wgrad = fwd_call = bwd_call = 0.0
    for _, n, has_first, L, r in adapted(m, t):
        tok = L.per_token * L.copies
        if L.reads_layer_input and has_first:
            skip += 2 * L.fan_in * L.fan_out * tok  # layer 0's dgrad into the embedding output
        if not r:
            continue
        if PEFT_WRAP[L.module].per_token:
            f = 2 * r * (L.fan_in + L.fan_out) * tok
            ad_fwd += n * f
            ad_bwd += n * (f + 2 * r * (L.fan_in + L.fan_out) * tok)  # wgrad + dgrad of A and B
            if L.reads_layer_input and has_first:
                ad_bwd -= 2 * r * L.fan_in * tok
        else:
            delta = 2 * L.copies * L.fan_out * r * L.fan_in  # one product of the factors
            wgrad += n * 2 * L.fan_in * L.fan_out * tok  # W + delta needs the full weight gradient
            fwd_call += n * delta * (PEFT_WRAP[L.module].evals_3d if L.copies > 1 else 1)
            bwd_call += n * 2 * delta  # gradients of both factors
    fwd = base_lin + attn + ad_fwd
    bwd = (base_lin - skip) + 2 * attn + ad_bwd + wgrad
    return dict(fwd=fwd, bwd=bwd, attention_fwd=attn, adapters_fwd=ad_fwd, fwd_call=fwd_call, bwd_call=bwd_call)


def finetune_step_flops(m: ModelSpec, t: TrainingSpec, seq, global_batch, recompute=0, flash=True,
                        micro_batch=None, attn_span=None, modules=None, causal_kernel=True, full_fraction=1.0,
                        selective="attention_core", fused_qkv=False):
    """``step_flops``' dict for a frozen-base step: ``model`` = fwd + bwd (about 4N per token
    instead of 6N), ``hardware`` adds recompute (the layers' forward again under full recompute,
    i.e. gradient checkpointing) and flash's backward score recompute, less the masked half a causal
    kernel skips (``step_flops``' ``hardware``, ``causal_kernel``). Per-call adapter FLOPs
    (``finetune_flops_per_token``) are paid once per micro-batch of ``micro_batch`` sequences (a
    number or an array over candidates: the plan's own; default ``training.micro_batch``, else 1:
    the most calls); they are in ``model`` because the FLOP counter sees them
    (tests/data/peft_truth.json). ``full_fraction``, ``selective``, ``fused_qkv``: as ``step_flops``."""
    from planner.model.flops import step_flops

    base = step_flops(m, seq, global_batch, recompute, flash, attn_span=attn_span, modules=modules,
                      causal_kernel=causal_kernel, full_fraction=full_fraction, selective=selective, fused_qkv=fused_qkv)
    per = finetune_flops_per_token(m, t, seq if attn_span is None else attn_span)
    tokens = np.asarray(global_batch, dtype=np.float64) * np.asarray(seq, dtype=np.float64)
    mb = (t.micro_batch or 1) if micro_batch is None else micro_batch
    calls = np.asarray(global_batch, dtype=np.float64) / np.asarray(mb, dtype=np.float64)
    fwd = per["fwd"] * tokens + per["fwd_call"] * calls
    model = (per["fwd"] + per["bwd"]) * tokens + (per["fwd_call"] + per["bwd_call"]) * calls
    extra = base["hardware"] - base["model"]  # recompute + flash less the skipped causal half, as for the full model
    rc = np.asarray(recompute)
    extra = extra + np.where(rc == 2, full_fraction * (per["adapters_fwd"] * tokens + per["fwd_call"] * calls), 0.0)
    return dict(base, fwd=fwd, model=model, hardware=model + extra)


def training_step_flops(m: ModelSpec, t: TrainingSpec, seq, global_batch, recompute=0, flash=True,
                        micro_batch=None, attn_span=None, modules=None, causal_kernel=True, full_fraction=1.0,
                        selective="attention_core", fused_qkv=False, remat_skip=0.0):
    """The step's FLOPs for the training mode: ``step_flops`` when every weight trains.
    ``attn_span``: keys per query of the attention (``flops.attention_span``; default ``seq``).
    ``modules``: what selective recompute re-runs (``stacks.recompute_modules`` of the job and
    stack; None: the attention core). ``causal_kernel``, ``full_fraction``, ``selective``, ``fused_qkv``: as
    ``step_flops`` (``flops.selective_kw`` gives a stack's ``modules``, ``selective`` and ``fused_qkv``); ``remat_skip``
    too (MaxText's saved GEMMs; LoRA / QLoRA run on no MaxText stack here: not passed on)."""
    from planner.model.flops import step_flops

    if t.mode in ("lora", "qlora") and m.is_transformer:
        return finetune_step_flops(m, t, seq, global_batch, recompute, flash, micro_batch, attn_span, modules,
                                   causal_kernel, full_fraction, selective, fused_qkv)
    return step_flops(m, seq, global_batch, recompute, flash, attn_span=attn_span, modules=modules,
                      causal_kernel=causal_kernel, full_fraction=full_fraction, selective=selective, fused_qkv=fused_qkv,
                      remat_skip=remat_skip)


def frozen_base(m: ModelSpec, t: TrainingSpec) -> bool:
    """True when the base weights are frozen (lora, qlora) on a transformer."""
    return t.mode in ("lora", "qlora") and m.is_transformer


#: the runtimes whose frozen base keeps its own fused layers' saves, not peft's on the HF model code
#: (``peft_layer_saves``). Megatron-Bridge / NeMo 2 LoRA (``peft/lora.py`` ``LoRA.transform``) wraps Megatron-Core's
#: Transformer Engine linears, whose forward drops the input of a frozen weight: TE ``_Linear.forward`` /
#: ``_LayerNormLinear.forward`` ``backward_needs_input = is_grad_enabled and weight.requires_grad`` (and under fp8
#: ``input_quantizer.set_usage(rowwise=True, columnwise=backward_needs_input)``: no fp8 copy kept either).
#: ``LoRALinear.forward`` (``peft/lora_layers.py``) runs ``self.adapter(layernorm_output)`` / ``adapter(x)`` on the
#: same tensor, whose ``linear_in`` keeps it (16-bit) for its own weight gradient; attention, the SwiGLU and the
#: norms save what they save in pre-training. So the layer keeps the 16-bit pre-training table's bytes, plus the
#: adapters' rank-r intermediates (r per token and adapter: 16 against 8,192 of a 70B's hidden; left out)
TE_FROZEN_SAVES = frozenset({"megatron"})


def peft_layer_saves(stack) -> bool:
    """Whether a frozen base's layers on ``stack`` (a planner.model.stacks ``Stack`` or a name; None: peft's) keep
    peft's saves on the HF model code (``frozen_layer_activation_bytes``), or, on a runtime of ``TE_FROZEN_SAVES``,
    the fused 16-bit table's. Until scale59 every stack's frozen base took peft's table: Llama-2-70B LoRA on
    Megatron-Bridge, 4,096 tokens on one B200 at TP 1, kept 148.8 GiB of activations where the same layout's
    pre-training keeps 83.9."""
    from planner.model.stack_rules import runtime  # (reads stacks at call time)

    return runtime(getattr(stack, "name", stack)) not in TE_FROZEN_SAVES


def trainable_share(m: ModelSpec, t: TrainingSpec) -> float:
    """Trainable parameters / all parameters: 1 unless the base is frozen (then gradient
    reduction and the optimizer step touch only the adapters)."""
    if not frozen_base(m, t):
        return 1.0
    return adapter_params(m, t) / count_params(m).total


# ---------------------------------------------------------------------------- saved activations
#: bytes per element of the tensors a frozen base's ops keep, and of its parameters, per
#: precision of ``hf_saved_bytes`` (pure fp32 / pure bf16 = ``model.to(bfloat16)``); PARAM_BYTES also prices a
#: 16/32-bit frozen base's storage (``quantized_bytes``)
SAVED_BYTES = {"fp32": 4, "bf16": 2}
PARAM_BYTES = {"fp32": 4.0, "bf16": 2.0}


@dataclass(frozen=True)
class FrozenAutocast:
    """A frozen base's forward under ``torch.autocast(bf16)`` (HF Trainer ``bf16=True``), against the full-training
    table of the same stream (activations_hf ``hf_table_precision("amp_bf16", ...)``): ``stream`` = bytes of the
    residual stream (4 over fp32 weights, 2 over a bf16 base or FSDP's bf16 gather). Measured (loraamp49,
    tests/data/peft_truth.json ``stream``: LoRA r16 all-linear on the tiny Llama under CUDA autocast's op lists,
    peft 0.21.2, bitsandbytes 0.50.2, torch 2.13 on CPU), exact for every frozen base below and under FSDP2.
    ``block_in``: bytes of a block's input where FSDP2 casts it on entry (``activations_hf.HFPrecision.block_in``),
    else None (the stream's): BERT's, bf16 where its stream is its LayerNorms' fp32 output (loraf51)."""
    stream: float
    block_in: float | None = None


class BlockWeights(NamedTuple):
    """Bytes of one kind of a block's weights, by the part of the block they belong to -- the parts an HF plan
    holds at a share of their own (memory_activations ``hf_weight_part_shares``): the attention's projections, a
    dense layer's MLP, an MoE layer's router and shared experts, its routed experts (``Linear.copies`` > 1)."""
    attention: float = 0.0
    dense_mlp: float = 0.0
    moe_block: float = 0.0
    experts: float = 0.0


#: what an attention projection reads (``HF_ATTENTION``): a linear reading one of these is the attention's
_ATTENTION_READS = frozenset(reads for _, reads in HF_ATTENTION.values())


def weight_part(L: Linear, moe: bool) -> str:
    """The ``BlockWeights`` field ``L`` of an MoE (``moe``) or dense block belongs to."""
    if L.copies > 1:
        return "experts"
    if L.reads in _ATTENTION_READS:
        return "attention"
    return "moe_block" if moe else "dense_mlp"


def frozen_saved_delta(m: ModelSpec, t: TrainingSpec, seq: int, batch: int, act_bytes: float,
                       checkpointing: bool = False, weight_bytes: float = 4.0, impl: str = "eager",
                       adapter_bytes: float | None = None, amp: FrozenAutocast | None = None) -> float:
    """``frozen_delta_parts`` summed: the whole forward's difference to full training."""
    blocks, weights, outside = frozen_delta_parts(m, t, seq, batch, act_bytes, checkpointing, weight_bytes, impl,
                                                  adapter_bytes, amp)
    return blocks + sum(weights) + outside


def frozen_delta_parts(m: ModelSpec, t: TrainingSpec, seq: int, batch: int, act_bytes: float,
                       checkpointing: bool = False, weight_bytes: float = 4.0, impl: str = "eager",
                       adapter_bytes: float | None = None, amp: FrozenAutocast | None = None,
                       experts: str = "eager", first_layer: bool = True) -> tuple[float, BlockWeights, float]:
    """Saved-for-backward bytes of one forward of a frozen base with peft adapters, minus those of
    full training of the same model (``activations_hf.hf_saved_bytes``), for a micro-batch of
    ``batch`` x ``seq`` tokens, as (the blocks' tokens' bytes, the blocks' weight-sized bytes per call by the part
    of the block they copy (``BlockWeights``), outside the blocks). The weight-sized parts -- a ``ParamWrapper``'s
    materialised ``W + delta`` and the uncached bf16 casts of fp32 frozen weights below -- are the size of the
    rank's weights, not of its tokens: a context-parallel split leaves them whole (cpmem51), and a rank holds each
    part at its own share (``frozen_layer_activation_bytes``' ``weight_split``): an EP plan's routed experts at
    ``E / ep`` (epw51), Llama 4's attention and dense MLP over TP, its router and shared expert whole (lora52; until
    then one parameter-weighted share for all but the experts, the embedding and head in it). Autograd saves a
    tensor only for a gradient that is needed (``derivatives.yaml``: ``mm`` keeps ``self`` only for ``mat2``'s
    gradient), so:

    * a frozen linear keeps no input for a weight gradient: an input tensor (``Linear.reads``) is
      kept only if one of its readers has an adapter — peft's ``lora_A(dropout(x))`` keeps ``x``
      (dropout 0 is ``nn.Identity``: the same storage) — or, under sdpa, because the attention
      kernel keeps its output (o_proj's input); a frozen bitsandbytes ``Linear4bit`` keeps only
      its packed weight (``MatMul4Bit.forward``: ``ctx.tensors = (None, B)``);
    * each adapter keeps its low-rank intermediate (``lora_B``'s input, r per token); adapters of
      another dtype than the activations (``adapter_bytes``: peft's fp32 adapters on a bf16 base,
      ``autocast_adapter_dtype``) cast their input first (``_cast_input_dtype``), so each keeps
      its own copy in that dtype — q, k and v three — and the shared input is not kept;
      a ``ParamWrapper`` instead keeps the materialised ``W + delta`` (``weight_bytes`` per
      element, per layer and call; under autocast in bf16: an fp32 one is cast per expert slice and the casts are
      kept) and its op keeps the input as in full training;
    * frozen norms keep no normalised copy for their weight's gradient (r*w per norm); layer 0's
      input norm, fed by the frozen embedding, keeps nothing (its fp32 input and rstd too);
      the embedding keeps no ids, the frozen head no input. LayerNorm families
      (``LAYERNORM_INPUT``: ``native_layer_norm`` keeps input, mean and rstd whichever gradient
      is needed) lose no per-norm copy; what the frozen embedding output feeds — the embedding
      dropout (its mask, a per element) and layer 0's ln_1 — records nothing, and the learned
      positions keep no ids.

    Under gradient checkpointing (non-reentrant, as HF Trainer applies it; peft makes the
    embedding output require grad, ``enable_input_require_grads``) the blocks keep only their
    inputs, as in full training: only the part outside the blocks changes (GPT-2's position ids
    move into the first block's arguments). Returned as
    (the blocks, outside them), the split of ``hf_saved_parts``. Exact against
    every peft case of tests/data/peft_truth.json (llama, mixtral; fp32, bf16; r8/r16; qkvo,
    all-linear; QLoRA) as a difference to the full-training measurement.

    Under autocast (``amp``; ``act_bytes`` = 2, autocast's bf16) against the full table of the stream, where each
    linear reading an fp32 tensor keeps its own bf16 copy (loraamp49, from peft 0.21.2 tuners/lora/layer.py
    ``Linear.forward`` -- ``result = base_layer(x)``, ``x = self._cast_input_dtype(x, lora_A.weight.dtype)``,
    ``lora_B(lora_A(dropout(x))) * scaling`` -- and torch aten/src/ATen/autocast_mode.cpp ``cached_cast``, which
    caches only leaves that require grad): an adapter keeps a bf16 copy of its own (``lora_A``'s autocast cast)
    unless its input is bf16 already and peft casts nothing (bf16 adapters: FSDP's gather; a bitsandbytes layer,
    peft tuners/lora/bnb.py, casts to the adapter's dtype only outside autocast) -- then the one tensor, once;
    ``lora_B`` keeps its bf16 input (r); a frozen norm keeps no normalised copy in the stream's dtype. A frozen
    fp32 weight's bf16 cast is made per call, not cached, and kept by the matmul for the input's gradient: 2 bytes
    a weight element of every linear whose input needs a gradient (per call: layer 0's q/k/v input does not). A
    frozen fp32 weight LoRA does not adapt is cast per call whatever module holds it (lora52: the eager loop's
    ``F.linear(x, self.gate_up_proj[e])`` slices of Mixtral's and Qwen3-MoE's routed experts, Mixtral's
    ``MixtralTopKRouter`` weight, Llama 4's ``torch.bmm`` over its whole 3-D experts -- a leaf that does not require
    grad, so not cached either; until then counted on ``nn.Linear``s only: tiny Mixtral LoRA qkvo over fp32 under
    CUDA autocast -9.9%, Qwen3-MoE -5.9%, tests/data/peft_truth.json ``amp_moe``). A
    bitsandbytes base on an fp32 stream outputs in its input's dtype (``Linear4bit``: ``.to(inp_dtype)``; int8's
    ``MatMul8bitLt``: ``int8_scaled_mm(..., dtype=A.dtype)``, a custom op on no autocast list), so a dense MLP's
    act input, act output and up output are fp32 (and down_proj reads fp32); ``MatMul8bitLt`` (the GPU's path,
    bitsandbytes 0.50.2 autograd/_functions.py) holds its input ``A`` in ``ctx.tensors`` when it needs a gradient.

    Under transformers' grouped_mm (``experts``, activations_hf ``hf_experts_kernel``; hfmoe52) the routed experts'
    two GEMMs read their own inputs, cast to the weights' dtype (``weight_bytes``; integrations/moe.py ``_grouped_mm``:
    ``input.to(weight.dtype)``, on no autocast list): full training keeps each once in that dtype, a frozen expert
    none (``_grouped_mm``'s derivative keeps its input only for the weight's gradient), and no expert weight is
    cast. Measured (tests/data/peft_truth.json ``grouped_moe``): tiny Mixtral LoRA q/k/v/o over fp32 under CUDA
    autocast -1,081,344 B on the blocks to full training (the eager loop's -294,912), Qwen3-MoE -785,408; pure bf16
    the same as the eager loop's.

    ``first_layer`` False: the layers as a later one keeps them, layer 0's exceptions above (its input norm, its q/k/v
    weights' casts) left out -- a rebuilt layer's, whose peak is the largest layer's, not their mean (lora58: the mean
    put the tiny Llama's rebuild 16,512 B below its last block's at (1, 64); under checkpointing peft's
    ``enable_input_require_grads`` makes layer 0's input need a gradient anyway).
    """
    a, h, tok = act_bytes, m.hidden, seq * batch
    r = a if amp is None else amp.stream  # the stream's (norm outputs') bytes
    bnb = bitsandbytes_base(t)
    held = amp is not None and base_weights(t) == "int8"  # MatMul8bitLt's ctx.tensors A
    out32 = amp is not None and bnb and r != a  # the frozen linears' outputs in the fp32 stream's dtype
    # uncached bf16 casts of fp32 weights: none where FSDP gathers them bf16 already (``weight_bytes`` 2: the weights
    # the forward sees; truth51 measured BERT over fp32 under FSDP2, whose post-LN stream stays fp32: +3.6% before)
    casts_w = amp is not None and base_weights(t) == "fp32" and weight_bytes > a and r != a
    # the routed experts under grouped_mm: their inputs in the weights' dtype, kept only for a weight gradient
    grouped = experts == "grouped_mm" and m.moe is not None and not m.moe.all_experts_compute
    ln = hf_model_type(m) in LAYERNORM_INPUT
    if ln:  # ids, learned-position ids (1, s), head input; the final LayerNorm keeps what it kept
        outside = -tok * (8 + a * h) - 8 * seq
        if checkpointing:  # the position ids stay saved, as the first block's argument (GPT-2's)
            return 8.0 * seq * LAYERNORM_INPUT[hf_model_type(m)].position_ids, BlockWeights(), outside
        outside -= tok * a * h  # the embedding dropout's mask: nothing upstream needs a gradient
    else:  # ids, final norm's normalised copy, head input (autocast: its own bf16 copy)
        outside = -tok * (8 + r * h + (a if amp is not None else r) * h)
    if checkpointing:
        return 0.0, BlockWeights(), outside
    per_tok = 0.0
    per_call = dict.fromkeys(BlockWeights._fields, 0.0)  # the weight-sized bytes by part
    ab = a if adapter_bytes is None else adapter_bytes
    sd = a if amp is not None else ab  # the dtype an adapter's saved input has
    stream_w = 0 if ln else m.layer_norms * h  # norms of the stream (its dtype r) ...
    norm_w = 0  # ... and of projections' outputs (a)
    if m.qk_norm != "none":
        norm_w += m.q_dim + m.kv_dim if m.mla is None else m.heads * (m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim) * 2
    if m.mla is not None:
        norm_w += (m.mla.q_lora_rank or 0) + m.mla.kv_lora_rank
    def src_of(reads: str) -> float:  # the bytes of what a linear reads
        if reads == "attn_in" and amp is not None and amp.block_in:  # the block's input, cast by FSDP2
            return amp.block_in
        return r if reads in ("attn_in", "mlp_in") or (out32 and reads == "down_in") else a

    for moe, n, first in _layers(m):
        if not n:
            continue
        lins = [(L, rk) for mo, _, _, L, rk in adapted(m, t) if mo == moe]
        layer = -r * stream_w - a * norm_w
        if out32 and not moe:
            layer += (r - a) * (2 + m.gated) * m.dense_width  # act input and output, up output in fp32
        # reads -> [width, readers, own copies' bytes, input kept, kept only as MatMul8bitLt's A, the input's bytes,
        # read by a grouped GEMM]
        groups: dict[str, list] = {}
        for L, rk in lins:
            tok_per = L.per_token * L.copies
            routed = grouped and L.copies > 1  # (a grouped GEMM's own input, not the tensor the others read)
            src = weight_bytes if routed else src_of(L.reads)
            o_kept = L.reads == "o_in" and impl in ("sdpa", "fused", "fused_mask")  # the kernel keeps its output
            g = groups.setdefault(L.reads + " grouped" * routed, [L.fan_in * tok_per, 0, 0.0, o_kept, False, src,
                                                                  routed])
            g[1] += 1
            lora_path = bool(rk) and PEFT_WRAP[L.module].per_token
            casts = ab != src and not (amp is not None and bnb)  # peft's _cast_input_dtype: a new tensor
            own = casts or (amp is not None and src != a)  # ... or autocast's cast for lora_A
            if lora_path:
                layer += sd * rk * tok_per
                g[2] += sd * g[0] if own else 0.0
                g[3] = g[3] or not own
            elif rk:  # ParamWrapper: its op reads x as in full training
                # W + delta is kept through the expert slices the matmuls save; under autocast an fp32 one is cast
                # slice by slice and the bf16 casts are kept instead (the index ops keep no weight): autocast's bytes
                # -- loramem50, tiny Mixtral under CUDA autocast over fp32: +8.9% -> 0.02%. grouped_mm casts no
                # weight: it keeps the whole W + delta in the weights' dtype and its input cast to that dtype, as full
                # training keeps them (lora58: tiny Mixtral / Qwen3-MoE LoRA all-linear over fp32 under autocast, the
                # live set at the last block's peak: the fp32 ``baddbmm`` W + delta and fp32 routed rows; -14.4% ->)
                amp_cast = amp is not None and not routed
                per_call[weight_part(L, moe)] += (n * (a if amp_cast else weight_bytes) * L.copies * L.fan_in
                                                  * L.fan_out)
                g[2] += a * g[0] if amp_cast and src != a else 0.0
                g[3] = g[3] or not (amp_cast and src != a)
            g[4] = g[4] or (held and L.module == "linear")
            if casts_w and (L.module == "linear" or not rk) and not routed:  # an adapted one: W + delta above
                per_call[weight_part(L, moe)] += n * 2.0 * L.copies * L.fan_in * L.fan_out
        for reads, (w, readers, own_b, kept, held_a, src, routed) in groups.items():
            kept = kept or held_a
            full = readers * a * w if (amp is not None and src != a and not routed) else src * w
            layer += own_b + (src * w if kept else 0.0) - full
        per_tok += n * layer
        if first and first_layer:  # layer 0's input norm: no gradient reaches it, nor to its q/k/v input
            # (a LayerNorm under CUDA autocast runs fp32 on an fp32 copy: HFPrecision.cuda_ops; not measured with LoRA)
            per_tok -= LAYERNORM_INPUT[hf_model_type(m)].first_norm(4.0 if amp else a, h) if ln else 4 * h + 4
            g = groups.get("attn_in")
            if g and g[4] and not g[3]:  # held only by MatMul8bitLt, which keeps no input without a gradient
                per_tok -= r * g[0]
            if casts_w:
                per_call["attention"] -= 2.0 * sum(L.fan_in * L.fan_out * L.copies for L, _ in lins
                                                   if L.module == "linear" and L.reads == "attn_in")
    return per_tok * tok, BlockWeights(**per_call), outside


@dataclass(frozen=True)
class LayerNormBlocks:
    """What a LayerNorm family's blocks keep differently on a frozen embedding: ``first_norm(a, h)``, the bytes per
    token layer 0's input LayerNorm keeps in full training and not there (input, mean and rstd, all in the
    activation dtype on CPU: ``_layernorm_blocks``' r*(w + 2)); ``position_ids``, whether the learned positions'
    ids are a block argument (so kept by a checkpointed first block); ``post_norm``, whether the stream between the
    blocks is a LayerNorm's output (post-LN), which under CUDA autocast is fp32 whatever the weights' dtype
    (``layer_norm`` is on its fp32 list: aten/src/ATen/autocast_mode.cpp)."""
    first_norm: Callable[[float, float], float]
    position_ids: bool
    post_norm: bool = False


#: LayerNorm families (``activations_hf.LAYERNORM_FAMILIES`` measured with peft: GPT-2, BERT). BERT is post-LN: its
#: first block has no input LayerNorm (modeling_bert.py: the embeddings' LayerNorm and position ids stay outside the
#: blocks). loramem50: until then BERT was read as an RMSNorm family, each norm's normalised copy and layer 0's fp32
#: input taken off: -8.7% on the tiny BERT's blocks (pure bf16, (2, 128)), -10.4% under CUDA autocast over fp32
LAYERNORM_INPUT = {"gpt2": LayerNormBlocks(lambda a, h: a * (h + 2), position_ids=True),
                   "bert": LayerNormBlocks(lambda a, h: 0.0, position_ids=False, post_norm=True)}


def lora_saved_bytes(m: ModelSpec, t: TrainingSpec, model_type: str, seq: int, batch: int,
                     precision: str = "bf16", impl: str = "eager", checkpointing: bool = False,
                     adapter_bytes: float = D.ADAPTER_BYTES) -> float:
    """Bytes autograd keeps after one forward of a transformers model with peft adapters on a
    frozen base: ``hf_saved_bytes`` (full training) plus ``frozen_saved_delta``. QLoRA runs with
    an fp32 residual stream (``prepare_model_for_kbit_training`` casts every non-4-bit parameter,
    the embedding included, to fp32; bitsandbytes casts a 4-bit layer's output back to its
    input's dtype): pass ``precision="fp32"`` — measured: QLoRA's saved bytes equal fp32 LoRA's,
    and under ``torch.autocast(bf16)`` each checkpointed layer still keeps 4 bytes per hidden
    element (the layer rebuilt in backward keeps less than fp32: an upper bound). Adapters are
    ``adapter_bytes`` (peft's default fp32; 2 for a model cast to bf16 after ``get_peft_model``)."""
    full = sum(hf_saved_parts(m, model_type, seq, batch, precision, impl, checkpointing))
    a = SAVED_BYTES[precision]
    w = 4.0 if t.mode == "qlora" else PARAM_BYTES[precision]  # the parameters' dtype: W + delta's
    return full + frozen_saved_delta(m, t, seq, batch, a, checkpointing, weight_bytes=w, impl=impl,
                                     adapter_bytes=adapter_bytes)


def base_math_precision(t: TrainingSpec) -> str:
    """The precision the model's own (base) layers compute and keep their activations in: ``training.precision``,
    except a LoRA at ``precision: fp32`` over a bf16 frozen base (``base_weights`` bf16), which runs no autocast and
    so runs the checkpoint as loaded: the bf16 base's GEMMs on bf16 tensor cores over a bf16 stream, only peft's fp32
    adapters (``autocast_adapter_dtype``) in fp32 on their own input copy (peft 0.21.2 tuners/lora/layer.py
    ``Linear.forward``: ``x = self._cast_input_dtype(x, lora_A.weight.dtype)``; measured: tests/data/peft_truth.json
    ``lora_r16_*_bf16_base`` "as_loaded", the bf16 stream). The one rule the memory (``frozen_saves_precision``) and
    the step (layer_ops ``layer_context``: peaks, byte widths, MFU's denominator) read; until QA 91 the step priced
    that base as fp32 GEMMs on the CUDA cores (Llama-3-8B LoRA, 8 H100s, micro-batch 4 at 4,096: 21.9 s a step
    against 2.0 s at ``precision: bf16``)."""
    if t.precision == "fp32" and getattr(t, "mode", None) in ("lora", "qlora") and base_weights(t) == "bf16":
        return "bf16"
    return t.precision


def base_math_missing(gpu, t: TrainingSpec) -> bool:
    """Whether ``gpu`` lacks a peak for the base's math where that is not ``training.precision``
    (``base_math_precision``: a LoRA at fp32 over a bf16 frozen base runs the base in bf16, which a V100 or T4 has no
    peak for); False where the base runs at the training precision (that precision's own checks answer)."""
    run = base_math_precision(t)
    if run == t.precision:
        return False
    try:
        physics.datasheet_peak(gpu, run)
    except InputError:
        return True
    return False


def base_math_error(names: list[str], t: TrainingSpec) -> InputError:
    """The refusal of a frozen base whose math (``base_math_precision``) the GPUs ``names`` have no peak for: the
    base's storage is the field at fault, not ``training.precision``, which the job gave as fp32 (it read
    "training.precision: V100-SXM2-16GB has no bf16 peak ...; set training.precision to fp16" until fuzz49b)."""
    run, kind, has = base_math_precision(t), base_weights(t), "has" if len(names) == 1 else "have"
    return InputError("training.base_weights", f"{kind}: a LoRA at precision {t.precision} runs a {kind} frozen base "
                      f"as loaded, in {run} (peft's adapters alone in {t.precision}), and {', '.join(names)} {has} no "
                      f"{run} peak: set base_weights: fp32 (the base in fp32), or training.precision fp16, or choose "
                      "another GPU")


def base_math_peak(gpu, t: TrainingSpec) -> float:
    """The datasheet peak of the base's math on ``gpu`` (``base_math_precision``; MFU's denominator): a part without
    it refused by the base's storage where that math is not the training precision (``base_math_error``)."""
    if base_math_missing(gpu, t):
        raise base_math_error([gpu.name], t)
    return physics.datasheet_peak(gpu, base_math_precision(t))


def frozen_saves_precision(t: TrainingSpec, fp32_stream: bool) -> str:
    """The saved-tensor layout (``SAVED_BYTES`` / ``hf_saved_parts`` key) of a frozen base's layers on a row whose
    residual stream is fp32 or not: ``fp32_stream`` is ``Stack.fp32_stream`` at the row's ZeRO stage, the rule the
    step time reads too (layer_ops ``LayerContext.fp32s``), so memory and step see one stream. "fp32" on an fp32
    stream (or fp32 training), else "bf16". Measured (tests/data/peft_truth.json ``stream``, peft 0.21.2,
    bitsandbytes 0.50.2, torch 2.13 on CPU; LoRA r16 all-linear on a tiny Llama under ``torch.autocast(bf16)``): the
    embedding's output -- and every decoder layer's input -- is fp32 over an fp32, int8 or NF4 base (the
    bitsandbytes ones through ``prepare_model_for_kbit_training``, which casts the embedding to fp32), bf16 over a
    bf16 base, and bf16 over an fp32 or NF4 base under FSDP2 with ``param_dtype=bf16`` (the gather hands the
    embedding bf16; FSDP1 (``fsdp_version: 1``) alike from its source, not run: torch 2.13
    distributed/fsdp/_flat_param.py ``FlatParamHandle.pre_unshard`` -> ``_use_low_precision_shard`` copies the
    shard into its ``param_dtype`` ``_mp_shard`` before the all-gather). Under autocast the checkpointed layers'
    inputs are exact; a layer kept whole is the pure table of its stream (tiny Llama, 2 x 128, against the runs:
    fp32 base +6%, int8 +10%, bf16 +21%, NF4 -2%, FSDP2 over fp32 / NF4 +22 / +27%; since loraamp49 the autocast
    layout, ``FrozenAutocast``, exact). Until lora48 the memory read fp32 for ``mode: qlora`` only, so a
    LoRA over an fp32 or int8 base was charged the bf16 table (half its checkpointed inputs) and a QLoRA under
    FSDP the fp32 one, where the step priced the stream ``Stack.fp32_stream`` reads. ``precision: fp32`` runs no
    autocast: the model as loaded, fp32 -- but over a bf16 base (``base_weights: bf16``) the checkpoint loaded in
    bf16 keeps a bf16 stream, the adapters fp32 (peft's ``autocast_adapter_dtype``; measured: peft_truth.json
    ``lora_r16_*_bf16_base`` "as_loaded"), until loraamp49 charged the fp32 table (loraamp49)."""
    if t.precision == "fp32":  # no autocast: the base as loaded
        return base_math_precision(t)
    return "fp32" if fp32_stream else "bf16"


#: a frozen base's stream per row (``frozen_stream``, the memory's layer key): bf16 with the parameters as loaded (a
#: bf16 base below FSDP, or no autocast), fp32 (``Stack.fp32_stream``), or bf16 because FSDP gathers every parameter
#: at ``param_dtype=bf16`` -- peft's fp32 adapters too, so their input is bf16 already and q / k / v share it
STREAM_BF16, STREAM_FP32, STREAM_GATHERED = 0, 1, 2


def frozen_stream(t: TrainingSpec, stack, zero) -> np.ndarray:
    """Per ZeRO stage ``zero`` (array), a frozen base's stream (``STREAM_*``): fp32 where ``stack.fp32_stream``
    says so, else gathered where the forward autocasts but finds no fp32 weights (``autocast_finds_fp32``: FSDP's
    bf16 gather, accelerate's FSDP plugin under ``mixed_precision=bf16``), else bf16 as loaded. The gather is its own
    key because over a bf16 base the stream is bf16 either way: measured (loramem50, tests/data/peft_truth.json
    ``stream`` ``bf16_base_fsdp2``: FSDP2 ``MixedPrecisionPolicy(param_dtype=bf16)``, gloo, one CPU rank; peft
    0.21.2) the gathered fp32 adapters are bf16, so no ``_cast_input_dtype`` copy is made and q / k / v's ``lora_A``
    share the one input (until loraamp49's "Left" the row was charged each adapter's own fp32 copy: +7.1% on the
    tiny Llama's layers kept whole)."""
    zero = np.asarray(zero)
    fp32 = np.broadcast_to(stack.fp32_stream(t, zero), zero.shape)
    gathered = bool(stack.autocasts(t)) & ~np.broadcast_to(stack.autocast_finds_fp32(zero), zero.shape)
    return np.where(fp32, STREAM_FP32, np.where(gathered, STREAM_GATHERED, STREAM_BF16))


def adapter_bytes_on(t: TrainingSpec, stack) -> float:
    """Bytes per element of a LoRA's adapters (their weights, gradients and, when they differ from the stream, their
    own input copies) on ``stack``: peft's fp32 (``defaults.ADAPTER_BYTES``, ``autocast_adapter_dtype``), or 16-bit
    where the stack's engine casts the whole module after ``get_peft_model`` (``Stack.casts_adapters``: DeepSpeed's
    bf16 engine, engine.py ``_configure_distributed_model`` -> ``self.module.bfloat16()``). The pure-bf16 peft runs
    (tests/data/peft_truth.json ``families`` bf16 and ``amp_families`` ``pure_bf16``, ``model.to(torch.bfloat16)``
    after ``get_peft_model``) are that case; until lorads50 a DeepSpeed plan charged the fp32 adapters'."""
    return PARAM_BYTES["bf16"] if engine_casts_module(t, stack) else D.ADAPTER_BYTES  # bf16 or fp16 alike: 2 B


def fsdp_version(stack) -> int | None:
    """The FSDP version a job runs on ``stack``'s accelerate FSDP (``Stack.fsdp_versions``; None on a stack
    without): the job's ``training.framework.fsdp_version``, else the HF Trainer's own (``defaults.TRAINER_FSDP_VERSION``,
    2: transformers' ``TrainingArguments`` passes it to accelerate; until fsdp52 accelerate's plugin default 1, and 2
    only where FSDP1 cannot wrap the blocks). Either version runs a LoRA over a bf16 base with peft's fp32
    adapters: torch FSDP1's flat parameter takes one dtype ("Must flatten tensors with uniform dtype"), but the
    Trainer wraps each adapter as a unit of its own (planner.model.memory ``fsdp1_adapter_units``), so no block
    mixes them (measured, tests/test_qlora54b.py; refused as rule ``hf-fsdp1-mixed`` from QA 103 to qlora54b)."""
    if stack is None or not stack.fsdp_versions:
        return None
    return stack.fsdp_version or D.TRAINER_FSDP_VERSION


def bnb_ignored_by_fsdp2(stack) -> bool:
    """Whether ``stack``'s ZeRO-3 leaves a bitsandbytes base's quantised linears out of sharding and gathering, whole
    on every rank: accelerate's FSDP2 (``fsdp_version`` 2 on a stack with ``Stack.bnb_whole_at_zero3``; its
    ``ignored_params``, ``bitsandbytes_layer_bytes``). FSDP1 with a float ``bnb_4bit_quant_storage`` shards and
    gathers them."""
    return bool(getattr(stack, "bnb_whole_at_zero3", False)) and fsdp_version(stack) == 2


def gathered_by_fsdp2(stack) -> bool:
    """Whether a frozen-base row that FSDP gathers (``STREAM_GATHERED``) runs FSDP2 ``fully_shard``
    (``fsdp_version``: the job's, else the HF Trainer's default, 2).
    What FSDP2 changes here: its pre-forward hook casts each block's input to ``param_dtype`` (torch 2.13
    ``_fsdp_state.py`` ``_cast_forward_inputs``; ``activations_hf.HFPrecision.block_in``), which FSDP1 does for the
    root's inputs only."""
    return fsdp_version(stack) == 2


def frozen_layer_activation_bytes(m: ModelSpec, t: TrainingSpec, seq: int, micro_batch, recompute, stream,
                                  split=1, adapter_bytes: float | None = None, stack=None, weight_split=None):
    """(bytes kept per layer, extra peak while one layer is rebuilt in backward) for a frozen-base
    plan, per candidate (arrays of micro-batch, recompute code, the stream -- ``frozen_stream`` at the row's ZeRO
    stage; a bool reads as fp32 or bf16 as loaded -- and the tensor x context split):
    the blocks' part of ``hf_saved_parts`` plus ``frozen_delta_parts``, over the layers — peft on
    HF model code, where LoRA/QLoRA run. Gradient checkpointing = ``recompute`` full (HF Trainer
    ``gradient_checkpointing=True``, non-reentrant): each layer keeps its input, and backward
    rebuilds one layer's saved set, its peak the walked block backward's plus the adapters' saves (hfblk57); the HF
    code has no selective recompute (counted as none).
    The table by the stream (``frozen_saves_precision``): fp32 where the stream is (QLoRA, a LoRA over an fp32 or
    int8 base below FSDP), else the 16-bit base's, with peft's fp32 adapters; a ``ParamWrapper``'s ``W + delta``
    in the stream's dtype (the weights the forward sees: fp32 after ``prepare_model_for_kbit_training``, bf16
    where FSDP gathers them). ``flash_attention`` selects transformers' sdpa (whose CPU flash
    kernel keeps what the CUDA one keeps), else eager. The outside part (loss, final norm) is left
    to the memory model's head/loss term. ``split`` divides the tokens' bytes: the memory model passes cp over the
    share a TP rank keeps (``memory_activations.hf_tp_share``; until hfsp34 tp x cp, an even split).
    ``weight_split`` (None: ``split`` for all) is a ``BlockWeights`` of divisors of the weight-sized bytes by part
    (``frozen_delta_parts``' second part: the uncached bf16 casts of an fp32 frozen base under autocast, a
    ``ParamWrapper``'s ``W + delta``): the memory model passes 1 over the share of each a rank holds
    (``memory_activations.hf_weight_part_shares``; until epw51 one model-wide share, ``hf_grad_share``, for all,
    until lora52 one for the experts and one for the rest), never over cp --
    context parallelism splits the sequence, not the weights (torch
    ``torch.distributed.tensor.experimental.context_parallel`` shards only the ``buffers`` it is given along their
    sequence dims; accelerate docs/source/concept_guides/context_parallelism.md; NeMo's Context Parallelism guide:
    "partitioning the input tensors along the sequence dimension"), so each CP rank casts its whole weight shard.
    Until cpmem51 they went over cp with the tokens: Llama-3-8B LoRA over an fp32 base under the HF Trainer's
    autocast, 4,096 tokens, CP 2: 12.95 GiB of bf16 casts a rank priced as 6.48. ``adapter_bytes``: None reads the stack's
    (``adapter_bytes_on``)."""
    fam = hf_model_type(m)
    adapter_bytes = adapter_bytes_on(t, stack) if adapter_bytes is None else adapter_bytes
    # ``stack``'s attn_implementation (padded rows: a mask, ``hf_padded``)
    impl = hf_attn_impl(m, t.flash_attention, hf_attn_choice(stack, m, t), padded=hf_padded(t))
    mb, rc, fs = np.broadcast_arrays(np.asarray(micro_batch), np.asarray(recompute), np.asarray(stream))
    keep, rebuild = np.zeros(mb.shape), np.zeros(mb.shape)
    # the weight-sized part of each by ``BlockWeights`` field (``frozen_delta_parts``)
    parts = len(BlockWeights._fields)
    w_keep, w_rebuild = np.zeros((parts,) + mb.shape), np.zeros((parts,) + mb.shape)
    autocast = stack is not None and stack.autocasts(t)
    experts = hf_stack_experts(m, stack)  # the MoE blocks' experts kernel (transformers' experts_implementation)
    wrapped = experts_param_wrapped(m, t)  # their gradients the backward's, not the parameters' (lora58)

    def per_layer(b: int, gc: bool, key: int, rebuild: bool = False) -> float:
        """(tokens' bytes, weight-sized parts) a layer keeps (``gc``: its checkpoint's), or with ``rebuild`` its
        backward's peak under checkpointing: the walked block's (activations_hf ``hf_block_rebuild``: the layer's
        saves rebuilt and the gradients in flight) plus peft's adapter saves (hfblk57; until then the layer's saves)."""
        f = key == STREAM_FP32
        stream = frozen_saves_precision(t, f)
        # a plan (``stack`` given) runs on a GPU: the LayerNorm families' pure tables with its 1 B dropout masks
        # (``hf_table_precision``: "bf16_cuda"; loramem50 measured GPT-2 LoRA pure bf16 +10% on the CPU's 2 B masks)
        prec, amp, ab = hf_table_precision(stream, f, fam) if stack is not None else stream, None, adapter_bytes
        if autocast:  # the full table of the stream under autocast, and autocast's frozen layout
            # (a post-LN family's stream is its LayerNorms' fp32 output: BERT over a bf16 base, loramem50 +4.2% -> 0)
            post = fam in LAYERNORM_INPUT and LAYERNORM_INPUT[fam].post_norm
            prec = hf_table_precision("amp_bf16", f, fam, block_cast=key == STREAM_GATHERED
                                      and gathered_by_fsdp2(stack))
            amp = FrozenAutocast(4.0 if post else SAVED_BYTES[stream], PRECISIONS[prec].block_in or None)
            if key == STREAM_GATHERED:
                ab = 2.0  # FSDP gathers the adapters bf16 too
        # beside the recompute: peft's copy of down's input, the scaled gradient of down's adapter output
        cast = adapter_cast_transient(m, t, seq, b, ab, amp.stream) + adapter_output_grad(m, t, seq, b) if amp else 0.0
        blocks = (m.layers * hf_block_rebuild(m, fam, seq, b, prec, impl, experts, cast, wrapped) if rebuild
                  else hf_saved_parts(m, fam, seq, b, prec, impl, gc, experts=experts)[0])
        delta, weights, _ = frozen_delta_parts(m, t, seq, b, 2.0 if amp else SAVED_BYTES[stream], gc,
                                               PARAM_BYTES[stream], impl, ab, amp, experts, first_layer=not rebuild)
        # the adapters' autocast weight copies their matmuls keep: with every layer's saves, or the rebuilt one's
        # (lora58b); a checkpoint keeps none
        casts = np.zeros(len(BlockWeights._fields)) if gc else np.array(
            adapter_weight_casts(m, t, ab, amp is not None, first_layer=not rebuild, base_bytes=PARAM_BYTES[stream]))
        return (blocks + delta) / m.layers, (np.array(weights) + casts)[:, None] / m.layers

    for b, code, f in {(int(x), int(y), int(z)) for x, y, z in zip(mb.ravel(), rc.ravel(), fs.ravel())}:
        sel = (mb == b) & (rc == code) & (fs == f)
        if code == 2:  # checkpointed: the checkpoint kept, one layer rebuilt in backward
            keep[sel], w_keep[:, sel] = per_layer(b, True, f)
            rebuild[sel], w_rebuild[:, sel] = per_layer(b, False, f, rebuild=True)
        else:  # the layer's saves kept, no rebuild (the zeros above)
            keep[sel], w_keep[:, sel] = per_layer(b, False, f)
    split = np.asarray(split, dtype=np.float64)
    w_split = [split] * parts if weight_split is None else [np.asarray(x, dtype=np.float64) for x in weight_split]
    return (keep / split + sum(w / d for w, d in zip(w_keep, w_split)),
            rebuild / split + sum(w / d for w, d in zip(w_rebuild, w_split)))


def adapter_cast_transient(m: ModelSpec, t: TrainingSpec, seq: int, batch: int, adapter_bytes: float,
                           stream: float) -> float:
    """Bytes a dense frozen block holds beside its saves when its checkpointed recompute stops, under autocast with
    peft's fp32 adapters (hfblk57b): the tensors the live frames name there that the frozen block does not save.
    Non-reentrant checkpointing stops the recompute at the block's last save (torch/utils/checkpoint.py, early stop),
    here ``lora_B``'s input in the down projection's adapter, so the frames around it are alive: the MLP's input
    ``x`` (the norm's output, ``stream`` bytes), the down projection's input (the bf16 product of its gate/up GEMMs)
    and its base output (bf16, ``result = self.base_layer(x)``), and peft's copy of that input in the adapters'
    dtype -- peft 0.21.2 tuners/lora/layer.py ``Linear.forward``: ``x = self._cast_input_dtype(x,
    lora_A.weight.dtype)`` (tuners_utils: ``x.to(dtype)``, a new tensor), then ``lora_B(lora_A(dropout(x))) *
    scaling``. Under autocast every adapter keeps its own bf16 copy of what it reads (``frozen_delta_parts``), so
    none of these is a save: per token ``(stream + 2) h + (2 + adapter_bytes) f``. Measured
    (tests/data/hfblk57_truth.json; the live set at the last block's peak: the fp32 (b, s, f) copy, the product,
    the norm's output beside the saves): the LoRA plans -18.0..+10.3 % of the step peak -> -7.7..+10.3 %.
    The LayerNorm families (GPT-2's ``GPT2MLP``: ``c_fc``, act, ``c_proj``, ``dropout``; BERT's ``BertOutput``:
    dense, dropout, LayerNorm) save the output dropout's mask after the down projection, so their recompute runs
    through the adapter and the frame peaks at ``lora_B(...) * scaling`` (lora58: the live set at the tiny GPT-2's
    peak, an ``aten.mul`` inside ``c_proj``'s adapter): ``lora_B``'s output and the scaled product, 2 h each, are
    alive too -- per token ``(stream + 6) h + (2 + adapter_bytes) f``. None where the adapters are in their input's
    dtype (FSDP's bf16 gather: no copy, the adapter keeps the input itself) or for bitsandbytes layers (peft
    tuners/lora/bnb.py casts only outside autocast)."""
    if bitsandbytes_base(t) or adapter_bytes <= 2.0:
        return 0.0
    down = _down_adapters(m, t, lambda L: L.fan_in)
    if not down:
        return 0.0
    past = 4.0 if hf_model_type(m) in LAYERNORM_INPUT else 0.0  # lora_B's output and its scaled product (2 B each)
    return seq * batch * ((stream + 2.0 + past) * m.hidden + (2.0 + adapter_bytes) * max(down))


def adapter_weight_casts(m: ModelSpec, t: TrainingSpec, adapter_bytes: float, autocast: bool,
                         first_layer: bool = True, base_bytes: float = 4.0) -> BlockWeights:
    """Autocast's bf16 copies of peft's fp32 adapter weights that the adapters' matmuls keep, by ``BlockWeights`` part,
    summed over the layers (lora58b). Under autocast ``lora_A`` / ``lora_B`` (``nn.Linear``: ``F.linear``, on
    autocast's lower-precision list) read a bf16 cast of their fp32 weight (torch aten/src/ATen/autocast_mode.cpp
    ``cached_cast``; cached while the autocast region lasts, as a leaf that requires grad), and the matmul keeps that
    cast for its input's gradient (derivatives.yaml ``mm``: ``self`` needs ``mat2``) -- ``lora_B``'s input always
    needs one, ``lora_A``'s wherever the adapted input does: not layer 0's q / k / v without checkpointing (the
    frozen embedding's output needs no gradient; peft's ``enable_input_require_grads`` comes with checkpointing).
    So 2 B a weight element of each per-token adapter (peft ``lora.Linear`` and its bitsandbytes twins), A ``r x in``
    and B ``out x r``, kept with the layer's saves: every layer's without checkpointing, the rebuilt layer's at its
    recompute under it (``first_layer`` False: a later layer's, whole). Measured (tests/data/hfblk57_truth.json
    ``peak_adapter_casts``, the casts alive at the step's peak): the tiny Llama's layer 1 adapters (4,096 B, r2
    all-linear) in the last block's recompute; without checkpointing both layers' less layer 0's q / k / v ``lora_A``.
    None where the adapters are 16-bit (FSDP's bf16 gather: ``adapter_bytes`` 2, autocast casts nothing) or without
    autocast. ``ParamWrapper``'s 3-D experts' adapters (lora58c) are cast by peft itself, autocast or not: peft
    0.21.2 tuners/lora/layer.py ``ParamWrapper.get_delta_factors`` returns ``lhs.to(param.dtype), rhs.to(param.dtype)``
    -- copies of A and B wherever the adapters' dtype is not the base weight's (``base_bytes``: a bf16 base under fp32
    adapters; none over an fp32 base or FSDP's bf16-gathered adapters) -- which the ``baddbmm`` folding them into
    ``W + delta`` keeps for each other's gradient (derivatives.yaml ``baddbmm``): 2 B x rank x experts x (in + out) a
    3-D weight, the rebuilt layer's / every layer's as above; a 2-D ``ParamWrapper`` (the router's weight) has its
    copy under autocast as well. Measured (``peak_adapter_casts``, to the byte on the eager expert loop): 13,312 B of
    the tiny Mixtral's experts (gate_up at peft's doubled fused rank 4, down at 2), 11,264 B of Qwen3-MoE's, over a
    bf16 base, none over fp32; the router's 272 / 288 B over both. Not counted: autocast's cache of every layer's casts to the
    forward's end (a forward moment: the backward runs outside autocast)."""
    parts = dict.fromkeys(BlockWeights._fields, 0.0)
    for moe, n, first, L, rk in adapted(m, t):
        if not (rk and n):
            continue
        if not PEFT_WRAP[L.module].per_token:  # ParamWrapper: peft's own cast to the base weight's dtype
            # (a 2-D one, the router's, is autocast's too: measured over an fp32 base as well)
            if adapter_bytes > base_bytes or (L.copies == 1 and autocast and adapter_bytes > 2.0):
                parts[weight_part(L, moe)] += 2.0 * rk * _adapter_copies(L) * n * (L.fan_out + L.fan_in)
            continue
        if not autocast or adapter_bytes <= 2.0:
            continue
        a_in = first and first_layer and L.reads == "attn_in"  # layer 0's q / k / v: lora_A keeps no cast
        parts[weight_part(L, moe)] += 2.0 * rk * _adapter_copies(L) * (n * (L.fan_out + L.fan_in) - a_in * L.fan_in)
    return BlockWeights(**parts)


def frozen_embedding_bytes(m: ModelSpec, t: TrainingSpec, recompute, stream) -> np.ndarray:
    """Bytes per element of a frozen base's input-embedding output held through the step apart from the layers' own
    bytes, per row (``recompute`` code, ``stream`` key: ``frozen_stream``), lora58b. Under gradient checkpointing
    peft's ``enable_input_require_grads`` (transformers ``PreTrainedModel.enable_input_require_grads``, called from
    ``gradient_checkpointing_enable``) makes the frozen embedding's output require grad: a leaf, which its
    ``AccumulateGrad`` node holds until the backward ends. In the RMSNorm decoders that output is block 0's input
    (modeling_llama.py ``hidden_states = inputs_embeds``), the checkpoint input the layers' bytes count already; in the
    LayerNorm families (``LAYERNORM_INPUT``: modeling_gpt2.py adds the learned positions and runs ``drop`` before
    block 0, BERT's embeddings add positions and token types and normalise) it is a tensor of its own, in the
    embedding's dtype (``frozen_saves_precision``: fp32 over an fp32 or bitsandbytes base). Without checkpointing
    nothing keeps it (the layer's first norm saves nothing on a frozen embedding: ``frozen_delta_parts``). Measured
    (tests/data/hfblk57_truth.json ``peak_embedding_out``, ``embedding_is_block_input``); until lora58b the memory
    model's ``emb_out`` (the Megatron rank 0's embedding output, 2 B) stood for it on every frozen row: twice the
    Llama's 8,192 B at (1, 64), none of the no-checkpointing rows'."""
    rc, fs = np.broadcast_arrays(np.asarray(recompute), np.asarray(stream))
    if hf_model_type(m) not in LAYERNORM_INPUT:
        return np.zeros(rc.shape)
    held = np.array([SAVED_BYTES[frozen_saves_precision(t, f == STREAM_FP32)] for f in fs.ravel()]).reshape(fs.shape)
    return np.where(rc == 2, held, 0.0)


def experts_param_wrapped(m: ModelSpec, t: TrainingSpec) -> bool:
    """Whether peft adapts a MoE block's routed experts -- fused 3-D parameters in transformers 5 -- through
    ``ParamWrapper`` (``PEFT_WRAP`` "param": the forward reads the materialised ``W + delta``), so that their whole
    3-D gradients are the backward's transients rather than parameter gradients (activations_hf
    ``_block_backward``'s ``experts_wrapped``; lora58)."""
    return any(rk and L.copies > 1 and not PEFT_WRAP[L.module].per_token for moe, _, _, L, rk in adapted(m, t)
               if moe)


def _down_adapters(m: ModelSpec, t: TrainingSpec, width: Callable[[Linear], float]) -> list[float]:
    """``width`` of each dense block's down projection that carries a per-token LoRA adapter (peft ``lora.Linear``
    or its bitsandbytes twins: ``PEFT_WRAP``), per token: the adapter whose frame the recompute of a frozen block
    stops in (``adapter_cast_transient``) and whose output gradient comes first (``adapter_output_grad``)."""
    return [width(L) * L.per_token * L.copies for moe, _, _, L, rk in adapted(m, t)
            if not moe and rk and L.reads == "down_in" and PEFT_WRAP[L.module].per_token]


def adapter_output_grad(m: ModelSpec, t: TrainingSpec, seq: int, batch: int) -> float:
    """Bytes of the gradient of a dense frozen block's down-projection adapter output, made before its checkpointed
    recompute and alive through it, under autocast (lora58). peft 0.21.2 tuners/lora/layer.py ``Linear.forward``
    (and bnb.py's, which under autocast converts nothing): ``result = result + lora_B(lora_A(dropout(x))) *
    scaling``, ``lora_B``'s output in autocast's bf16: the backward of ``* scaling`` (a Python float: its node keeps
    no tensor) writes a new h-wide bf16 gradient before ``lora_B``'s matmul unpacks its input, which starts the
    recompute (torch/utils/checkpoint.py, non-reentrant: on the first unpack). Per token ``2 h``. Measured
    (tests/data/hfblk57_truth.json's live set at the last block's peak, the recompute's stop: a bf16 (b, s, h)
    ``mul`` made in the head's phase, beside the residual add's bf16 copy of the stream's gradient, which the walk
    prices for every autocast block: activations_hf ``_block_backward``). None for the LayerNorm families: GPT-2's
    output dropout runs its backward (its mask saved) before the scale's, so the recompute starts first."""
    if hf_model_type(m) in LAYERNORM_INPUT:
        return 0.0
    down = _down_adapters(m, t, lambda L: L.fan_out)
    return seq * batch * 2.0 * max(down) if down else 0.0


def dequant_bytes_per_layer(m: ModelSpec, t: TrainingSpec) -> float:
    """HBM bytes one pass over one (average) layer moves to dequantise a quantised base: read the
    stored weight, write its 16-bit copy, which the GEMM then reads (bitsandbytes ``Linear4bit``
    / ``Linear8bitLt`` dequantise before the matmul in training); 0 for a 16-bit base."""
    if not frozen_base(m, t) or base_weights(t) in ("fp32", "bf16"):
        return 0.0
    pc = count_params(m)
    layer = (pc.layers_total) / m.layers
    stored = {"nf4": 0.5, "int8": 1.0}[base_weights(t)]
    return layer * (stored + 2.0 + 2.0)


# ---------------------------------------------------------------------------- step-time GEMMs
def _wgrad_role(L: Linear) -> str:
    """The GEMM of ``moe.moe_layer`` a ``ParamWrapper``-adapted tensor is: the experts' input or
    output projection, or the router."""
    if L.copies > 1:
        return "experts_down" if L.name.endswith("down_proj") else "experts_up"
    return "router"


def full_weight_grads(m: ModelSpec, t: TrainingSpec) -> dict:
    """The base GEMMs of an MoE layer that keep their weight gradient under a frozen base, as
    ``moe.moe_layer``'s ``wgrad`` roles (``experts_up``, ``experts_down``, ``router``) -> 1: the
    tensors peft adapts through ``ParamWrapper`` (``PeftWrap``), whose op runs on ``W + delta``
    so autograd computes the full weight gradient to reach A and B."""
    if not frozen_base(m, t):
        return {}
    return {_wgrad_role(L): 1.0 for moe, _, _, L, r in adapted(m, t)
            if moe and r and not PEFT_WRAP[L.module].per_token}


def frozen_layer_gemms(m: ModelSpec, t: TrainingSpec, moe: bool, T, tp, ep, etp, gemm, adapter_gemm=None):
    """(forward, backward) seconds that one layer of this kind (MoE or dense) adds to the base
    GEMMs of a frozen-base pass on one rank — the GEMMs behind ``finetune_flops_per_token``'s
    counts, timed by ``gemm(M, N, K, wg=, batch=)`` (``layer_ops.LayerContext.gemm``: forward,
    and backward = dgrad + ``wg`` x wgrad) for the base, ``adapter_gemm`` (default ``gemm``) for
    the adapters' factors. The adapters are plain 16-bit linears under an FP8 base: NeMo's
    ``ParallelLinearAdapter`` builds them from megatron.core.tensor_parallel
    ``ColumnParallelLinear``/``RowParallelLinear`` (torch matmuls; Transformer Engine's
    ``fp8_autocast`` reaches only TE modules) cast to bf16 under O2; peft's lora_A/B are
    ``nn.Linear``:

    * each per-token adapter (``lora.Linear``) on ``T`` tokens (x per_token x copies): A (M x in)
      -> r and B r -> out, forward and both gradients. Under tensor parallelism as Megatron-Core
      splits its base (``Linear.tp``): a column-parallel base's A sees the whole input and its B
      makes the local output slice; a row-parallel base's A reads the local input slice and its B
      the whole output (the rank-r all-reduce between them is not charged); a replicated base's
      adapter runs whole; an expert tensor's adapter (``ExpertAdapters.wrap`` "linear": Megatron-Bridge's
      ``ParallelLinearAdapter``) on the rank's routed tokens, split as its base over ``etp``;
    * each ``ParamWrapper`` delta, once per forward call (= micro-batch) per evaluation
      (``PeftWrap.evals_3d``: B @ A as a batched GEMM over the rank's E/ep experts, the expert
      slice of etp; the router's once) and the gradients of both factors in backward (the base
      op's full weight gradient is ``full_weight_grads``, charged in ``moe.moe_layer``);
    * minus layer 0's input gradients into the frozen embedding output (the projections reading
      the block input, and their adapters' A), which autograd skips: spread over the layers of
      the kind that holds layer 0 (the total exact; each stage charged the average)."""
    e = m.moe
    agemm = gemm if adapter_gemm is None else adapter_gemm
    fwd = bwd = 0.0
    col_skip = n_first = 0.0
    for mo, n, first, L, r in adapted(m, t):
        if mo != moe:
            continue
        i, o = L.fan_in, L.fan_out
        if L.reads_layer_input and first:  # the base's dgrad, as step_time times it
            if L.tp == "dup":
                bwd = bwd - gemm(T, o, i, wg=0.0)[1] / n
            else:  # the column-parallel input projections run as one GEMM
                col_skip, n_first = col_skip + o, n
        if not r:
            continue
        if PEFT_WRAP[L.module].per_token:
            M = T * L.per_token * L.copies
            split = etp if L.copies > 1 else tp  # an expert adapter splits as its base, over the expert TP group
            a_in = i / split if L.tp == "row" else i
            b_out = o / split if L.tp == "col" else o
            fa, ba = agemm(M, r, a_in, wg=1.0)
            fb, bb = agemm(M, b_out, r, wg=1.0)
            fwd, bwd = fwd + fa + fb, bwd + ba + bb
            if L.reads_layer_input and first:
                bwd = bwd - agemm(M, r, a_in, wg=0.0)[1] / n  # A's input gradient
        else:
            if L.copies > 1:  # experts: the rank's E/ep, each etp's slice (gate_up: out; down: in)
                batch = L.copies / ep
                o_s = o / etp if L.tp == "col" else o
                i_s = i / etp if L.tp == "row" else i
                evals = PEFT_WRAP[L.module].evals_3d
            else:
                batch, o_s, i_s, evals = 1.0, o, i, 1
            fd, bd = agemm(o_s, i_s, r, wg=1.0, batch=batch)  # delta = B @ A; dB, dA
            fwd, bwd = fwd + evals * fd, bwd + bd
    if col_skip:
        bwd = bwd - gemm(T, col_skip / tp, m.hidden, wg=0.0)[1] / n_first
    return fwd, bwd
