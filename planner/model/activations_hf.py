"""Saved activations of the Hugging Face ``transformers`` eager/sdpa code (the stacks that run HF
model code: ``hf-trainer``, ``deepspeed``, and the peft/TRL fine-tuning paths), as a table per
family — distinct from ``planner.model.activations``, which models Megatron-Core/TE's fused kernels.

Read off the saved-tensor lists recorded from transformers 5.23 (tests/data/hf_activations.json,
made by tests/make_hf_activations.py with ``saved_tensors_hooks``, deduplicated by storage) and the
modelling code (``models/<family>/modeling_<family>.py``); checked against every recorded case in
tests/test_families.py. Three precisions (``PRECISIONS``): fp32; pure bf16 (``model.to(bf16)``);
``amp_bf16`` = ``torch.autocast(bf16)`` over fp32 weights, where the residual stream, the norms'
outputs, the RoPE tables and the 4-D masks stay fp32 and *every* linear/matmul saves its own bf16
copy of an fp32 input (autocast caches only the casts of leaf weights: ``hf_param_cast_bytes``).
Per token, with ``a`` = matmul-output bytes and ``r`` = residual-stream bytes:

* RMSNorm (``LlamaRMSNorm``): its input as fp32 (4w), the fp32 rstd (4), the normalised copy in
  the input dtype (r*w, kept for the weight's gradient); OLMo 2, Gemma and gpt-oss multiply the
  weight in fp32 (normalised 4w; Gemma also keeps ``1 + weight`` per layer);
* every linear keeps its input — a norm's output once for q/k/v (and the router), or once per
  linear under autocast;
* eager attention: q, k and v after ``repeat_kv`` (expanded to all heads), the fp32 softmax
  (4 per score) and its copy in the activation dtype; Gemma 2's soft-capping keeps the tanh
  (a per score); gpt-oss concatenates its sink (s+1 scores, an int64 max index per row) and keeps
  the softmax in the activation dtype; Llama 4's softmax is in the scores' dtype; sdpa (CPU flash
  kernel): q, k, v unexpanded, the output and an fp32 log-sum-exp per head; with a sliding-window
  mask k/v are expanded and the mask kept (a per score); MLA's unequal q/v head dims take the
  decomposed math path (q, k, v and the softmax in fp32); MLA's v is a view of kv_b_proj's output;
* MLP: act input, act output, up output, down input (4*a*f); MoE experts (eager loop, ``ROUTERS``):
  per routed token the token/top-k position indices (16), the gathered input, the gate/up output
  (2f), the activation and the product (f each), the expert output, its routing weight and the
  weighted output handed to ``index_add_``; the router's logits, softmax, top-k indices and weights;
* once per model: RoPE cos/sin (Gemma 3: two sets), the input ids, the final norm and the head's
  input, the fp32 log-softmax of the loss (4V) and the shifted labels; Gemma 2's final soft-cap;
* gradient checkpointing: only each block's call arguments (hidden states, cos/sin, the 4-D mask
  in eager, position ids) plus what lies outside the blocks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import accumulate
from operator import add

import numpy as np

from planner.model.activations import rank_logits
from planner.model.stack_kernels import ExplicitSoftmax
from planner.spec import ModelSpec
from planner.spec.params import head_positions


@dataclass(frozen=True)
class HFPrecision:
    """How a training precision lays out what the HF code saves."""
    act: int        # bytes of a matmul output (the compute dtype)
    stream: int     # bytes of the residual stream, norm outputs, RoPE tables, 4-D masks
    autocast: bool  # torch.autocast: each linear saves its own bf16 copy of an fp32 input
    #: CUDA autocast's fp32 op list applies (pytorch aten/src/ATen/autocast_mode.cpp ``AT_FORALL_FP32``:
    #: ``layer_norm``, ``pow``, ...; ``AT_FORALL_FP32_SET_OPT_DTYPE``: ``softmax`` without a dtype returns fp32),
    #: which CPU autocast (the recorded "amp_bf16") lacks; read by the LayerNorm families' table only (GPT-2 / BERT:
    #: their LayerNorm, tanh-GELU ``torch.pow`` and dtype-less softmax; the RMSNorm decoders' tensors are the same
    #: under both lists, tests/data/hf_activations.json ``details``)
    cuda_ops: bool = False
    param: int = 4  # bytes of the weights the forward reads (their gradients' dtype)
    #: bytes of a dropout mask's element: 0 = the dropout input's dtype (CPU: aten/src/ATen/native/Dropout.cpp
    #: ``_dropout_impl``, ``at::empty_like(input).bernoulli_(1 - p)``, since ``is_fused_kernel_acceptable`` takes CUDA
    #: / XPU / lazy / PrivateUse1 tensors only); 1 = a GPU's ``native_dropout`` (aten/src/ATen/native/cuda/Dropout.cu
    #: ``dropout_cuda``: ``empty_like(self, dtype=kBool)``; ``fused_dropout``'s ``kByte`` before it). Read by the
    #: LayerNorm families' tables (GPT-2 / BERT: dropout 0.1; the RMSNorm decoders' configs have none) and walk
    mask: int = 0
    #: bytes of a block's input where the wrapper casts it on entry (0: the stream's): FSDP2's ``fully_shard`` casts
    #: each floating-point forward input of a sharded module to ``param_dtype`` (torch 2.13
    #: distributed/fsdp/_fully_shard/_fsdp_state.py ``_pre_forward`` -> ``_cast_forward_inputs``; ``MixedPrecisionPolicy
    #: .cast_forward_inputs`` defaults True, accelerate leaves it so), before transformers' checkpoint (5.23
    #: modeling_layers.py checkpoints ``forward``: "module hooks (e.g. FSDP2's) stay outside"). Read by BERT, whose
    #: stream is its LayerNorms' fp32 output under CUDA autocast: the block's readers share the bf16 copy (loraf51)
    block_in: int = 0
    #: torch < 1.11 keeps the softmax's input beside its output: ``SoftmaxBackward`` saved ``self`` for
    #: ``_softmax_backward_data(grad_output, output, dim, self)``, which reads only its dtype (pytorch/pytorch#64000;
    #: #65242 passes ``input_dtype`` instead, torch 1.11 -- transformers pytorch_utils.py ``softmax_backward_data``
    #: calls it with ``self`` "if is_torch_less_than_1_11", else ``self.dtype``). Read by the LayerNorm families' eager
    #: attention (``_layernorm_blocks``: one more score-sized tensor a layer, the softmax input's dtype); set by the
    #: stack (``Stack.softmax_keeps_input``, ``hf_table_precision``); the recorded tables (torch 2.13) have none
    softmax_input: bool = False
    #: the transformers experts kernel the MoE blocks run (planner.vocab ``EXPERTS_IMPLEMENTATION``;
    #: ``hf_experts_kernel``): "eager" (the per-expert loop, the recorded families' cases) or "grouped_mm"; set per
    #: job by ``hf_precision``
    experts: str = "eager"

    def mask_bytes(self, src: float) -> float:
        """Bytes an element of the mask of a dropout whose input has ``src`` bytes an element (``mask``)."""
        return self.mask or src


PRECISIONS = {
    "fp32": HFPrecision(4, 4, False),
    "bf16": HFPrecision(2, 2, False, param=2),  # model.to(torch.bfloat16): pure bf16
    "amp_bf16": HFPrecision(2, 4, True),    # torch.autocast(bf16) over fp32 master weights (CPU autocast's lists)
    # the same on a GPU (CUDA autocast's lists): DDP + AMP; and over bf16 weights, FSDP's MixedPrecision(param_dtype=
    # bf16) under accelerate's autocast forward (the stream bf16)
    "amp_bf16_cuda": HFPrecision(2, 4, True, cuda_ops=True, mask=1),
    "amp_bf16_w16_cuda": HFPrecision(2, 2, True, cuda_ops=True, param=2, mask=1),
    # the same under FSDP2, whose per-block units cast each block's input to bf16 (``HFPrecision.block_in``)
    "amp_bf16_w16_fsdp2_cuda": HFPrecision(2, 2, True, cuda_ops=True, param=2, mask=1, block_in=2),
    # pure bf16 on a GPU: "bf16" with the GPU's 1 B dropout masks (the LayerNorm families' plans, ``hf_table_precision``)
    "bf16_cuda": HFPrecision(2, 2, False, param=2, mask=1),
    # fp32 on a GPU: "fp32" with the GPU's 1 B dropout masks (the LayerNorm families' plans; padmask49)
    "fp32_cuda": HFPrecision(4, 4, False, mask=1),
    # an RMSNorm decoder under CUDA autocast over FSDP's bf16 weights: "bf16"'s tensors (recorded: byte for byte on
    # llama and gpt-oss) but for a softmax called without a dtype (``DTYPELESS_SOFTMAX``), which returns fp32 there
    "bf16_autocast_cuda": HFPrecision(2, 2, False, cuda_ops=True, param=2),
}
#: the key suffix of each ``PRECISIONS`` entry on a torch that keeps the softmax's input (``HFPrecision.softmax_input``)
SOFTMAX_INPUT_KEY = "_softmax_input"
PRECISIONS.update({k + SOFTMAX_INPUT_KEY: replace(v, softmax_input=True) for k, v in list(PRECISIONS.items())})

#: RMSNorm decoders whose eager attention calls ``softmax`` with no dtype (Llama 4: models/llama4/modeling_llama4.py
#: ``eager_attention_forward``, ``nn.functional.softmax(attn_weights, dim=-1)``), so CUDA autocast's
#: ``fp32_set_opt_dtype`` returns it in fp32 even on a bf16 stream (4 B a score, and the AV matmul's bf16 cast);
#: gpt-oss passes ``dtype=combined_logits.dtype`` and Llama's family ``dtype=torch.float32``: unchanged (recorded,
#: tests/data/hf_activations.json ``details``, hfstep48)
DTYPELESS_SOFTMAX = {"llama4_text"}


def hf_precision(precision: str, experts: str = "eager") -> HFPrecision:
    """``PRECISIONS[precision]`` with the MoE blocks' experts kernel ``experts`` (``HFPrecision.experts``)."""
    P = PRECISIONS[precision]
    return P if experts == P.experts else replace(P, experts=experts)


#: the transformers model types whose experts class takes no ``experts_implementation``: transformers 5.23
#: models/llama4/modeling_llama4.py ``Llama4TextExperts`` (its own ``torch.bmm`` over every expert) has no
#: ``@use_experts_implementation``, so modeling_utils.py ``_can_set_experts_implementation`` is False: an unset
#: choice resolves to "eager" (its own forward) and "grouped_mm" raises ("does not support setting experts
#: implementation"; recorded, tests/data/hf_activations.json ``experts.refused``)
HF_OWN_EXPERTS = frozenset({"llama4_text"})


def hf_experts_kernel(m: ModelSpec, choice: str | None = None) -> str:
    """The experts kernel the HF model code runs ``m``'s MoE blocks with: the job's ``experts_implementation``
    (``choice``), else transformers 5.23's pick -- modeling_utils.py ``get_correct_experts_implementation``:
    ``applicable_experts = "grouped_mm" if requested_experts is None``, "eager" where the class takes no choice
    (``HF_OWN_EXPERTS``, or a spec run with every expert on every token, ``MoESpec.all_experts_compute``). The pick
    does not read the device: on a GPU below SM80 (or torch without ``grouped_mm``) integrations/moe.py
    ``_can_use_grouped_mm`` sends the same call to its ``transformers::grouped_mm_fallback`` op, which saves the
    same tensors (its ``setup_context``: input and weight). "eager" on a dense model."""
    if m.moe is None:
        return "eager"
    if choice is not None:
        return choice
    return "eager" if m.moe.all_experts_compute or hf_model_type(m) in HF_OWN_EXPERTS else "grouped_mm"


def hf_stack_experts(m: ModelSpec, stack) -> str:
    """The experts kernel the HF table prices ``m``'s MoE blocks with on ``stack``: ``hf_experts_kernel`` of the
    job's ``training.framework.experts_implementation`` (``Stack.experts_implementation``); "eager" without a stack
    (the recorded families' cases, run with the per-expert loop)."""
    if stack is None:
        return "eager"
    return hf_experts_kernel(m, getattr(stack, "experts_implementation", None))


def hf_experts_note(m: ModelSpec, fw, ep: int = 1) -> str:
    """The MoE blocks' experts kernel an HF-code stack ``fw`` (``mixed_precision`` set) runs ``m`` with at expert
    parallelism ``ep``, for the stack line (``hf_experts_kernel``); empty on a dense model or another stack (one whose
    layers are not transformers' model code: its explicit softmax is not transformers', ``Stack.explicit_softmax``).
    Where DeepSpeed's AutoEP swaps in its own layer (moe ``autoep_rows``) it says that transformers' kernel does not
    run (until autoep53b it printed the job's ``experts_implementation`` "as set" there too)."""
    from planner.model.moe import autoep_rows

    if m.moe is None or getattr(fw, "explicit_softmax", None) != "transformers":
        return ""
    choice = getattr(fw, "experts_implementation", None)
    if bool(autoep_rows(fw, ep)):
        return ("; MoE experts: AutoEP's GroupedExperts (w1 / w3 / w2 grouped GEMMs in the routed rows' dtype), "
                f"not transformers' experts_implementation={hf_experts_kernel(m, choice)}, which AutoEP's layer "
                "replaces at EP > 1")
    kernel = hf_experts_kernel(m, choice)
    why = ("as set" if choice is not None else "its experts class's own kernel" if kernel == "eager"
           else "transformers 5.23's default")
    return (f"; MoE experts: experts_implementation={kernel} ({why}" + (
        ": all routed rows in one grouped GEMM in the weights' dtype, an fp32 model's under autocast in fp32 with "
        "no weight cast)" if kernel == "grouped_mm" else ")"))


def hf_table_precision(precision: str, fp32_stream, model_type: str = "", block_cast: bool = False,
                       softmax_input: bool = False) -> str:
    """The ``PRECISIONS`` key of a job whose HF-code precision is ``precision`` on a row whose stream is fp32 or not
    (``fp32_stream``: stacks ``Stack.fp32_stream``, by the ZeRO stage): "amp_bf16" -- autocast over fp32 weights --
    only on an fp32 stream. Where FSDP hands autocast bf16 weights (accelerate's ``MixedPrecision(param_dtype=bf16)``
    at ZeRO-2/3) the stream, the norms' outputs, the RoPE tables and q / k are bf16 and every linear's input is
    already bf16 (autocast's cast is a no-op, no own copy): the pure-bf16 table's tensors ("bf16"; hffsdp47). Not
    modelled there for the RMSNorm decoders: autocast's fp32 op list on the ``softmax`` without a dtype of Llama 4
    (``DTYPELESS_SOFTMAX``: "bf16_autocast_cuda", hfstep48; gpt-oss passes a dtype). The LayerNorm families (``LAYERNORM_FAMILIES``: GPT-2, BERT) take CUDA autocast's lists, which change
    their tensors: "amp_bf16_cuda" on the fp32 stream, "amp_bf16_w16_cuda" over FSDP's bf16 weights (hfmem48:
    their LayerNorm runs fp32 on an fp32 copy of its input, GPT-2's tanh-GELU ``torch.pow`` casts up, the
    dtype-less softmax returns fp32; on the tiny GPT-2 / BERT (2, 128) the bf16 table was 28% / 35% short of the
    measured FSDP saves, the CPU-autocast one 15% / 25% short of the GPU's). Their "bf16" is "bf16_cuda" (the same
    with a GPU's 1 B dropout masks, ``HFPrecision.mask``; hfstep48), their "fp32" "fp32_cuda" (the same; padmask49).
    ``block_cast``: FSDP2 gathers the weights and casts each block's input to bf16 (``HFPrecision.block_in``):
    "amp_bf16_w16_fsdp2_cuda" (loraf51). ``softmax_input``: the stack's torch keeps the softmax's input
    (``Stack.softmax_keeps_input``): that key's ``SOFTMAX_INPUT_KEY`` twin (bert52)."""
    key = _table_key(precision, fp32_stream, model_type, block_cast)
    return key + SOFTMAX_INPUT_KEY if softmax_input else key


def _table_key(precision: str, fp32_stream, model_type: str, block_cast: bool) -> str:
    """``hf_table_precision`` on a torch that saves no softmax input (its docstring)."""
    if model_type in LAYERNORM_FAMILIES and precision == "amp_bf16":
        return "amp_bf16_cuda" if fp32_stream else "amp_bf16_w16_fsdp2_cuda" if block_cast else "amp_bf16_w16_cuda"
    if model_type in LAYERNORM_FAMILIES and precision in ("bf16", "fp32"):
        # the GPU's 1 B dropout masks (``HFPrecision.mask``; hfstep48, fp32: padmask49)
        return precision + "_cuda"
    if precision == "amp_bf16" and not fp32_stream:
        return "bf16_autocast_cuda" if model_type in DTYPELESS_SOFTMAX else "bf16"
    return precision

#: how a family's RMSNorm multiplies its weight (module docstring): "cast" = weight * x.to(dtype)
#: (Llama, Qwen, Mistral, Phi-3, DeepSeek, Llama 4); "fp32" = in fp32, then cast (OLMo 2, Gemma,
#: gpt-oss: ``(self.weight * hidden_states).to(input_dtype)``)
NORM_STYLE = {"olmo2": "fp32", "gemma2": "fp32", "gemma3_text": "fp32", "gpt_oss": "fp32"}


@dataclass(frozen=True)
class Router:
    """Per-token bytes a family's MoE router and eager expert loop keep (its modeling file).

    ``input_fp32``: the router casts its input to fp32 (DeepSeek: ``hidden_states.type(float32)``);
    ``probs``: a full softmax/sigmoid over the E experts is kept (fp32); ``topk_sum``: the top-k
    weights are renormalised (keeps the fp32 sum); ``weights``: the top-k weights' dtype —
    "fp32" (Mixtral, DeepSeek) or "act" (Qwen3-MoE ``.to(router_logits.dtype)``, gpt-oss's
    softmax over the top-k logits); ``gate_f``: f-wide tensors the expert's activation keeps
    besides its 2f gate/up output (SwiGLU: act, product = 2; gpt-oss's clamped SwiGLU with
    ``(up + 1) * glu``: 5); ``bias``: the experts add fp32 biases (gpt-oss).
    """
    input_fp32: bool = False
    probs: bool = True
    topk_sum: bool = True
    weights: str = "fp32"
    gate_f: int = 2
    bias: bool = False


ROUTERS = {
    "mixtral": Router(),
    "qwen3_moe": Router(weights="act"),
    "qwen2_moe": Router(weights="act"),
    "deepseek_v3": Router(input_fp32=True),
    "deepseek_v2": Router(input_fp32=True, topk_sum=False),  # greedy top-k, no renormalisation
    "gpt_oss": Router(probs=False, topk_sum=False, weights="act", gate_f=5, bias=True),
}


# a family's ``attn_implementation="eager"`` softmax is a stack_kernels ``ExplicitSoftmax`` (the one form of an explicit
# softmax, a stack's own or a model family's), read by the memory (``saved_rows``: what autograd keeps a score) and
# the step time (layer_ops ``explicit_attention`` through ``hf_eager_softmax_extra``). Here ``fp32_saved`` is
# ``softmax(dtype=torch.float32)``: its fp32 output and, in a 16-bit model, its cast back are kept (False: the softmax
# runs in the scores' dtype, which the fp32 mask promotes under autocast); under autocast RoPE's fp32 tables make q
# and k fp32 and the 4-D mask is fp32, so the mask add promotes the scores. Counted on CPU replicas at no attention
# dropout (the job's ``dropout`` adds its own bytes, as on every stack): tests/test_hfsoftmax42.py. CUDA autocast
# puts ``softmax`` on its fp32 list (CPU autocast does not), so BERT's autocast replica writes that cast out.

#: llama's ``eager_attention_forward`` (models/llama/modeling_llama.py @5dd4a635): ``matmul(query, key^T) * scaling``,
#: ``+ causal_mask``, ``softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)``, ``dropout``, ``matmul``
#: with v. 16-bit model 28 / 28 B a score moved (5 / 4 kernels); autocast 24 / 28 (4 / 4: the mask add writes fp32,
#: ``.to`` is a no-op on fp32 q, autocast casts the probabilities for the AV matmul). The RMSNorm decoders copy it
_LLAMA_EAGER = ExplicitSoftmax(True, {False: (24.0, 22.0), True: (20.0, 22.0)}, {False: (4.0, 3.0), True: (3.0, 3.0)},
                               "transformers llama eager_attention_forward: fp32 softmax, cast to q's dtype")
#: per transformers ``model_type`` (``hf_model_type``), its eager softmax; a family not listed runs llama's
HF_EAGER_SOFTMAX = {
    "llama": _LLAMA_EAGER,
    # Gemma 2's ``eager_attention_forward`` (models/gemma2/modeling_gemma2.py): llama's after ``attn_weights /
    # softcap``, ``tanh``, ``* softcap`` (config ``attn_logit_softcapping``): 16-bit 40 / 42 B, autocast 36 / 42
    "gemma2": ExplicitSoftmax(True, {False: (36.0, 36.0), True: (32.0, 36.0)}, {False: (7.0, 6.0), True: (6.0, 6.0)},
                              "transformers gemma2 eager_attention_forward: soft-capping, fp32 softmax", softcap=True),
    # GPT-2 (models/gpt2/modeling_gpt2.py @c44b2d99 ``GPT2Attention._attn``): ``/ torch.full([], head_dim ** 0.5)``,
    # the causal mask (5.x: the 4-D mask added, fp32 under autocast), ``softmax`` without a dtype (the scores'),
    # ``.type(value.dtype)``: 16-bit 12 / 10 B (3 / 2 kernels); autocast 24 / 28 (the mask promotes the scores)
    "gpt2": ExplicitSoftmax(False, {False: (8.0, 4.0), True: (20.0, 22.0)}, {False: (2.0, 1.0), True: (3.0, 3.0)},
                            "transformers gpt2 GPT2Attention._attn: softmax in the scores' dtype"),
    # BERT (models/bert/modeling_bert.py @8ec58104 ``BertSelfAttention.forward``): ``/ math.sqrt(head_size)``, no mask
    # without padding, ``nn.functional.softmax`` (no dtype), dropout, ``matmul``: 16-bit 8 / 10 B (2 / 2 kernels);
    # CUDA autocast runs the softmax in fp32 (its input cast up, the AV matmul's cast back): 24 / 28
    "bert": ExplicitSoftmax(False, {False: (4.0, 4.0), True: (20.0, 22.0)}, {False: (1.0, 1.0), True: (3.0, 3.0)},
                            "transformers bert BertSelfAttention: 16-bit softmax (CUDA autocast: fp32)"),
    # the softmax in the scores' dtype (activations measured per family); their time: gpt-oss's sink attention is
    # layer_ops ``hf_sink_score_bytes``, Llama 4's eager code is not read for time here (the fused default)
    "gpt_oss": ExplicitSoftmax(False, None, None, "transformers gpt_oss: sink column, scores' dtype"),
    "llama4_text": ExplicitSoftmax(False, None, None, "transformers llama4: softmax in the scores' dtype"),
}


def hf_eager_softmax(model_type: str) -> ExplicitSoftmax:
    """``HF_EAGER_SOFTMAX``'s entry of a transformers ``model_type``, llama's where the family has none."""
    return HF_EAGER_SOFTMAX.get(model_type, _LLAMA_EAGER)


def hf_eager_softmax_extra(m: ModelSpec, autocast: bool, act_b) -> tuple[float, float, float, float]:
    """(forward bytes, backward bytes, forward kernels, backward kernels) a score that ``m``'s family's eager softmax
    (``HF_EAGER_SOFTMAX``, by ``hf_model_type``) moves beyond the fused 16-bit default; 0 with fp32 scores and for a
    family whose time is not read."""
    return hf_eager_softmax(hf_model_type(m)).extra(autocast, act_b)


#: families whose RoPE casts q/k back to the input dtype (``q_embed.to(q_type)`` in OLMo 2,
#: ``type_as`` in Llama 4 and DeepSeek-V2's complex ``apply_rotary_emb``,
#: models/deepseek_v2/modeling_deepseek_v2.py l.270-271), so that under autocast k stays bf16
ROPE_CASTS_BACK = {"olmo2", "llama4_text", "deepseek_v2"}

#: the ``stack_kernels.EAGER_FP32_BYTES`` form of a family's eager RoPE where it is not transformers' ``rotate_half``
#: ``apply_rotary_pos_emb`` (Llama's, which the other decoder families here copy; DeepSeek-V3's
#: ``apply_rotary_pos_emb_interleave`` re-lays q / k out first and is priced as it, not counted):
#: Llama 4 and DeepSeek-V2 rotate with the complex multiply (``torch.view_as_complex(xq.float() ...) * freqs_cis``,
#: ``type_as``), torchtitan's "rope"; gpt-oss's ``_apply_rotary_emb`` (chunk, four products on the halves, cat) is not
#: counted here and keeps "rope"
HF_ROPE_FORMS = {"llama4_text": "rope", "deepseek_v2": "rope", "gpt_oss": "rope"}


def hf_rope_form(m: ModelSpec, fp32_stream: bool) -> str:
    """The ``EAGER_FP32_BYTES`` key of ``m``'s family's RoPE on the HF code (``HF_ROPE_FORMS``, else
    "rope_rotate_half"); ``fp32_stream``: the forward autocasts over fp32 weights, so the rotary tables (cast to the
    hidden states' dtype) and the products are fp32 ("_amp": ``PRECISIONS["amp_bf16"]``'s fp32 stream, the fp32 q / k
    after RoPE this module's walk saves)."""
    form = HF_ROPE_FORMS.get(hf_model_type(m), "rope_rotate_half")
    return form + "_amp" if fp32_stream and form == "rope_rotate_half" else form


#: transformers families whose attention reads its input through one fused q/k/v linear and whose MLP fuses gate and up
#: (Phi-3 ``qkv_proj`` / ``gate_up_proj``; GPT-2's ``c_attn`` and ``c_fc`` Conv1D)
FUSED_PROJECTIONS = {"phi3", "gpt2"}


def _bert_embedding_saves(m: ModelSpec, P: HFPrecision, r: float, tok: int) -> float:
    """BERT's embedding block's saves for ``tok`` tokens, ``r`` bytes an element of its LayerNorm's output (BERT's
    stream): 16 B a token of int64 ids, the LayerNorm's output and statistics (``r`` (h + 2)), its dropout's mask
    (``HFPrecision.mask_bytes``), and 8 B a position of the position-id buffer. One formula for the saved-tensor
    table and both walks, which had it written out three times."""
    return tok * (16 + r * (m.hidden + 2) + P.mask_bytes(r) * m.hidden) + 8 * (m.max_positions or 512)


def norm_readers(m: ModelSpec, model_type: str) -> tuple[int, int]:
    """(linears that read the attention's input norm output, those that read the MLP's): under autocast over an fp32
    stream each casts its own bf16 copy of it (the saves' ``lin``; the step time's casts, layer_ops ``elementwise``).
    q / k / v (MLA: the q and kv down-projections) or one fused q/k/v; gate and up, one fused, or one up; an MoE
    block's router, its shared expert's gate and up, and each of the top-k experts' gathered input."""
    fused = model_type in FUSED_PROJECTIONS
    attn = 1 if fused else (2 if m.mla is not None else 3)
    if m.moe is not None:
        return attn, 1 + (2 if m.moe.shared_experts else 0) + m.moe.top_k
    return attn, 1 if (fused or not m.gated) else 2


def _logits(m: ModelSpec, seq: int, batch: int, head_seq=None) -> float:
    """The logits of one micro-batch of ``batch`` x ``seq`` tokens over the whole vocabulary: the one count,
    ``activations.rank_logits``, on one rank (no TP or CP split of the HF code's head). Every vocabulary-wide
    tensor of the walk below is this count times its bytes per logit (the fp32 log-softmax 4, the logits in the
    activation dtype, the loss's two gradients)."""
    return float(rank_logits(m, seq, batch, head_seq=head_seq).shard)


def _loss_saves(model_type: str, P: HFPrecision) -> tuple[int, int]:
    """(the loss's log-softmax, Gemma 2's final logit soft-cap tanh) bytes a logit that autograd keeps from the
    forward to the loss's backward: vocabulary-wide tensors, as the logits (``_logits``). transformers'
    ``ForCausalLMLoss`` (loss/loss_utils.py) upcasts with ``logits.float()`` and ``cross_entropy``'s log-softmax saves
    its fp32 output; BERT's MLM loss runs on the logits' dtype (fp32 under autocast: ``log_softmax`` is on CUDA
    autocast's fp32 list); Gemma 2 (models/gemma2/modeling_gemma2.py ``final_logit_softcapping``) divides, ``tanh``s
    and multiplies the logits, keeping the tanh in their dtype."""
    lsm = (4 if P.autocast else P.act) if model_type == "bert" else 4
    return lsm, (P.act if model_type == "gemma2" else 0)


def _norm(w: float, src: float, style: str) -> float:
    """RMSNorm over width ``w`` of an input of ``src`` bytes (module docstring)."""
    return 4 * w + 4 + (4 * w if style == "fp32" else src * w)


def hf_saved_bytes(m: ModelSpec, model_type: str, seq: int, batch: int, precision: str = "bf16",
                   impl: str = "eager", checkpointing: bool = False, head_seq=None, experts: str = "eager") -> float:
    """Bytes autograd keeps after one forward of a transformers causal LM (module docstring). ``head_seq``: the
    positions a BERT MLM head gathers (``Stack.head_seq``; DLE's ``dense_sequence_output``), None every one.
    ``experts``: the MoE blocks' experts kernel (``HFPrecision.experts``; ``hf_experts_kernel``)."""
    return sum(hf_saved_parts(m, model_type, seq, batch, precision, impl, checkpointing, head_seq, experts))


def hf_saved_parts(m: ModelSpec, model_type: str, seq: int, batch: int, precision: str = "bf16",
                   impl: str = "eager", checkpointing: bool = False, head_seq=None,
                   experts: str = "eager") -> tuple[float, float]:
    """``hf_saved_bytes`` split into (the blocks with their RoPE tables and masks, what lies
    outside them: ids, embedding, final norm, head and loss)."""
    blocks, outside, _ = saved_rows(m, model_type, seq, batch, precision, impl, checkpointing, head_seq, experts)
    return blocks, outside


def saved_rows(m: ModelSpec, model_type: str, seq: int, batch: int, precision: str,
               impl: str, checkpointing: bool, head_seq=None,
               experts: str = "eager") -> tuple[float, float, list[tuple[float, float]]]:
    """``hf_saved_parts`` and, without checkpointing, each block's saves split in the order its
    backward frees them: (attention with its input norm, MLP/MoE with its norm(s)), bytes per
    token (``hf_step_memory``'s liveness walk); an empty list under checkpointing."""
    P = hf_precision(precision, experts)
    if model_type in LAYERNORM_FAMILIES:
        return _layernorm_blocks(m, model_type, seq, batch, P, impl, checkpointing, head_seq)
    a, r = P.act, P.stream
    tok = seq * batch
    h, H = m.hidden, m.heads
    style = NORM_STYLE.get(model_type, "cast")
    gemma = model_type in ("gemma2", "gemma3_text")
    llama4 = model_type == "llama4_text"
    softmax = hf_eager_softmax(model_type)  # its eager softmax: fp32 kept, or the scores' dtype (HF_EAGER_SOFTMAX)

    def lin(n: int, w: float, src: float = r) -> float:
        """Inputs kept by ``n`` linears reading one tensor of width ``w`` and ``src`` bytes."""
        return n * a * w if (P.autocast and src != a) else src * w

    if m.mla is not None:
        dqk, dv = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim, m.mla.v_head_dim
        kvh = H
    else:
        dqk = dv = m.head_dim
        kvh = m.kv_heads
    rope_sets = 2 if model_type == "gemma3_text" else 1
    rope = rope_sets * _rope_set_bytes(m, model_type, seq, P)
    # outside the blocks: ids, final norm + head input, loss log-softmax, shifted labels, scalar
    logits = _logits(m, seq, batch)
    lsm, cap = _loss_saves(model_type, P)
    outside = tok * 8 + tok * (_norm(h, r, style) + lin(1, h)) + lsm * logits + 8 * (tok + 1) + 4
    if cap:
        outside += cap * logits  # final logit soft-capping keeps its tanh
    if gemma:
        outside += 2 + 4 * h  # the embedding scale; the final norm's 1 + weight
    if checkpointing:
        per_layer = tok * r * h
        kind = _kind_inputs(m, model_type, seq, batch, P, impl, rope / rope_sets)
        shared_rope = rope if rope_sets == 1 else 0.0
        return m.layers * per_layer + shared_rope + sum(kind.values()) + 8 * seq, outside, []  # position ids (1, s)

    def attention(local: bool) -> float:
        t = 0.0
        pre = 0 if model_type == "olmo2" else _norm(h, r, style)  # OLMo 2 normalises after
        t += pre + lin(norm_readers(m, model_type)[0], h)  # q/k/v input (fused qkv; MLA's a-projections)
        if gemma:
            t += 4 * h / seq / batch  # 1 + weight per layer (not per token)
        if m.mla is not None:
            q = m.mla
            if q.q_lora_rank:
                t += _norm(q.q_lora_rank, a, style) + lin(1, q.q_lora_rank, r)
            t += _norm(q.kv_lora_rank, a, style) + lin(1, q.kv_lora_rank, r)
        if llama4 and local:
            # Llama4TextL2Norm (weightless, so not in the spec's qk_norm; config ``use_qk_norm``,
            # true in the released models) on RoPE layers only: q and k as fp32 and their rstd
            t += 4 * (H + kvh) * dqk + 4 * (H + kvh)
        if m.qk_norm == "head":
            t += _norm(H * dqk, a, style) + 4 * (H - 1)  # per-head rstd
            t += _norm(kvh * dqk, a, style) + 4 * (kvh - 1)
            if gemma:
                t += 2 * 4 * dqk / seq / batch
        elif m.qk_norm == "full":
            t += _norm(H * dqk, a, style) + _norm(kvh * dqk, a, style)
        if llama4 and not local:
            t += 4 / batch  # temperature tuning's attention scales (1, s, 1, 1), fp32
        # sdpa paths: MLA's unequal q/v head dims take the decomposed math path (it upcasts bf16
        # to fp32: q, k, v and the softmax all fp32); a sliding-window layer passes a 4-D mask
        # to the CPU flash kernel, which then gets k/v expanded by repeat_kv (no enable_gqa) and
        # keeps the mask in the activation dtype
        math_path = _math(m, impl)
        masked = _sdpa(impl) and (local or impl == "fused_mask")  # (a padding mask: every layer, ``hf_attn_impl``)
        # MLA's v is a view of kv_b_proj's output (k_nope and v); at batch 1 the matmul can use
        # that view as it is and keeps the whole storage, at batch > 1 it needs a (b*H, s, dv) copy
        mla_view = m.mla is not None and batch == 1
        v_store = H * (m.mla.qk_nope_head_dim + dv) if mla_view else H * dv
        if math_path:
            t += 4 * (2 * H * dqk) + 4 * H * seq + (4 * v_store if a == 4 else 4 * H * dv)
        elif _sdpa(impl):
            kv = H if masked else kvh
            vw = dqk if impl == "fused_pad" else dv  # FA2/3 on MLA: v padded to the q/k head dim, so its output
            t += a * (H * dqk + kv * dqk + kv * vw + H * vw) + 4 * H  # its output is o_proj's input
            if impl == "fused_pad":
                t += a * H * dv  # ... sliced back to d_v: o_proj gets a contiguous copy
            if masked:
                t += a * seq  # the (b, 1, s, s) mask, per layer
            if model_type == "phi3":
                t += a * H * dv  # out of a fused-qkv slice: o_proj gets a contiguous copy
        elif not softmax.fp32_saved:
            # the softmax runs in the scores' dtype, which the fp32 mask (autocast: the stream
            # dtype) promotes to fp32 under autocast; the matmul with v then casts it back
            sm = 4 if P.cuda_ops and model_type in DTYPELESS_SOFTMAX else (r if P.autocast else a)
            cols = seq + 1 if model_type == "gpt_oss" else seq  # gpt-oss: the sink column
            t += a * (2 * H * dqk + H * dv) + sm * H * cols + (a * H * seq if sm != a else 0)
            if model_type == "gpt_oss":
                t += 8 * H  # the int64 row-max index of the sink concatenation
        else:
            t += a * (2 * H * dqk + v_store) + 4 * H * seq + (a * H * seq if a < 4 else 0)
            if softmax.softcap:
                t += a * H * seq  # attention logit soft-capping
        if not _sdpa(impl) or math_path:
            t += a * H * dv  # o_proj input
        if model_type == "olmo2" or gemma:
            t += _norm(h, r, style)  # post-attention norm (OLMo 2, Gemma)
        return t

    def mlp(moe: bool) -> float:
        t = _norm(h, r, style) if model_type != "olmo2" else 0.0
        if gemma:
            t += _norm(h, r, style)  # post-feedforward norm
        if model_type == "olmo2":
            t += _norm(h, r, style)
        if not moe:
            return t + lin(norm_readers(m, model_type)[1], h) + 4 * a * m.dense_width  # fused gate_up; gate and up
        e = m.moe
        k, f, E = e.top_k, m.ffn_hidden, e.experts
        if e.shared_experts:
            sw = e.shared_ffn_hidden or e.shared_experts * f
            t += 4 * a * sw
        R = ROUTERS.get(model_type, Router())
        consumers = 3 if e.shared_experts else 1  # the router, the shared expert's gate and up
        if P.autocast:
            t += consumers * a * h  # each casts the fp32 input itself
        elif R.input_fp32:  # DeepSeek: an fp32 copy for the router (the input itself in fp32)
            t += 4 * h + (r * h if e.shared_experts and r != 4 else 0)
        else:
            t += r * h
        if llama4:
            # Llama4TextMoe: top-k of the logits, sigmoid of the scattered scores for every expert;
            # the input repeated E times and scaled, a dense bmm over all experts
            # (the repeat in the stream dtype, its scaled copy cast for the bmm under autocast)
            return t + 8 * k + 4 * E + E * (a + r * h + a * h + 4 * a * f)
        wb = 4 if R.weights == "fp32" or P.experts == AUTOEP_EXPERTS else a  # AutoEP's router: fp32 top_scores
        t += (4 * E if R.probs else 0) + 8 * k + (4 if R.topk_sum else 0) + wb * k
        t += k * _routed_token_bytes(P, R, h, f) + _grouped_layer_bytes(m, P) / tok  # the experts, per routed token
        return t

    moe_ids = set(m.moe_layer_ids) if m.moe_layers else set()
    # a block's rows depend on it only through its attention kind and whether it is an MoE block: each computed
    # once (speed41: the two functions on every block were most of an HF-stack memory call's table)
    kinds = [(_is_local(m, model_type, i), i in moe_ids) for i in range(m.layers)]
    attn = {local: attention(local) for local in {k[0] for k in kinds}}
    mlps = {moe: mlp(moe) for moe in {k[1] for k in kinds}}
    per_tok = 0.0
    rows = []
    shared = {}  # one row object per kind of block (``_blocks_backward`` walks each once)
    for kind in kinds:
        row = shared.get(kind)
        if row is None:
            row = shared[kind] = (attn[kind[0]], mlps[kind[1]])
        per_tok += row[0] + row[1]
        rows.append(row)
    return per_tok * tok + rope, outside, rows


def _routed_token_bytes(P: HFPrecision, R: Router, h: int, f: int) -> float:
    """What the experts keep per routed token (``hf_saved_parts``' MoE rows), by the kernel (``HFPrecision.experts``).

    * eager loop: the token/top-k position indices, the gathered input (cast under autocast), gate/up (2f), the
      activation's f-wide saves (the last is the down matmul's input), the expert output, its weight, the weighted
      output (stream dtype). gpt-oss's expert biases promote every matmul output to fp32 under autocast (bf16
      matmul + fp32 bias);
    * grouped_mm (transformers 5.23 integrations/moe.py ``grouped_mm_experts_forward``): three int64 row indices
      (the gather ``perm // top_k``, ``sample_weights[perm]``, ``weighted_out[inv_perm]``), then everything in the
      weights' dtype (``HFPrecision.param``: ``_grouped_mm`` casts its input with ``input.to(weight.dtype)`` and is on
      no autocast list, so an fp32 model under autocast runs its experts in fp32 with no weight cast): the grouped
      input, gate/up (2f), the activation's f-wide saves, the down GEMM's input, its output (saved by the routing
      weight's multiply) and the weight; the weighted output's gather and sum keep no values. (The int32 offsets,
      4 B an expert a layer, are ``_grouped_layer_bytes``.)
    * DeepSpeed's AutoEP (``AUTOEP_EXPERTS``: its ``AutoEPMoELayer`` in place of transformers' block at EP > 1;
      deepspeed/module_inject/auto_ep_layer.py ``AutoEPMoELayer._forward``, moe/ep_experts.py
      ``_run_experts_grouped_mm``, DeepSpeed master as stored), in the routed rows' dtype -- the stream's: its grouped
      GEMMs cast the weights to ``x.dtype`` (``cast_dtype = x.dtype``) and ``torch._grouped_mm`` is on no autocast
      list: ``AUTOEP_INDEX_BYTES`` of indices; the routed input (saved once: ``x.to(cast_dtype)`` is ``x`` itself,
      read by the w1 and the w3 GEMM), w1's output (silu's input), silu's output and w3's output (the product's two
      factors), the product (w2's input): h + 4f; the combine's (``combine_from_routed``, score_apply "post",
      weighted_sum) ``(T, top_k, h)`` rows saved by the multiply with the scores (h, the experts' dtype:
      ``.type_as(x)``); the scores it saves are the router's own fp32 ``top_scores`` (``.float()`` a no-op: its
      ``TokenChoiceTopKRouter``, ported from TorchTitan's, takes the softmax in fp32), the router row's routing weight
      at 4 B (``mlp``'s ``wb``). The unpermute's and the combine's ``index_put`` and the ``_AllToAllV`` keep no values. Not counted: the alignment padding of ``permute_by_local_expert`` (up to
      ``TOKEN_GROUP_ALIGN_SIZE_M`` = 8 zero rows a local expert a layer, through all five expert saves; Qwen3-30B-A3B at
      EP8: 128 rows of 32,768) and AutoEP's own router (``TokenChoiceTopKRouter``), priced as transformers'."""
    a, r = P.act, P.stream
    wb = 4 if R.weights == "fp32" else a
    if P.experts == AUTOEP_EXPERTS:
        return AUTOEP_INDEX_BYTES + r * (2 * h + 4 * f)
    if P.experts == "grouped_mm":
        d = P.param
        return 24 + d * (2 * h + 2 * f + (R.gate_f - 1) * f + f) + wb
    eb = r if (R.bias and P.autocast) else a
    return 16 + a * h + eb * 2 * f + eb * (R.gate_f - 1) * f + a * f + eb * h + wb + r * h


#: the experts kernel DeepSpeed's AutoEP runs in place of transformers' (``HFPrecision.experts``; moe ``autoep_rows``):
#: not a job's ``experts_implementation`` choice (planner.vocab ``EXPERTS_IMPLEMENTATION``) but the layer AutoEP swaps in
AUTOEP_EXPERTS = "autoep"

#: what AutoEP's block keeps in indices per routed row (auto_ep_layer.py ``AutoEPMoELayer._forward``): the gather's
#: int64 ``token_indices_for_compute // top_k`` (``x[...]``), ``permute_by_local_expert``'s int32 ``permuted_indices``
#: (ep_kernels ``generate_permute_indices``; saved by the permuting gather and the unpermuting ``index_put``, one
#: tensor) and the combine's int64 ``token_indices_sorted`` (``output[token_indices_sorted] = expert_output``)
AUTOEP_INDEX_BYTES = 8 + 4 + 8


def _expert_dtype(P: HFPrecision) -> int:
    """The bytes an element of the grouped experts' tensors: transformers' grouped_mm casts the input to the weights'
    dtype (``HFPrecision.param``), AutoEP's ``GroupedExperts`` the weights to the input's (the stream's)."""
    return P.stream if P.experts == AUTOEP_EXPERTS else P.param


def _grouped_layer_bytes(m: ModelSpec, P: HFPrecision) -> float:
    """What grouped_mm keeps per MoE layer whatever the tokens: the int32 cumulative row counts per expert it hands
    both GEMMs (``offsets``, integrations/moe.py); 0 under the eager loop."""
    return 4.0 * m.moe.experts if P.experts == "grouped_mm" else 0.0


def busiest_expert_tokens(k: int, E: int, tokens: int) -> float:
    """An upper bound on the expected load of the busiest of ``E`` experts when each of
    ``tokens`` tokens picks ``k`` distinct experts uniformly at random: each expert's load is a
    sum of ``tokens`` independent indicators of probability p = k/E (mean kT/E, variance
    v = T p (1 - p)); centred bounded sums are sub-gamma with (v, 1/3), so the expected maximum
    of E of them is at most mean + sqrt(2 v ln E) + ln(E)/3 (Boucheron, Lugosi & Massart,
    *Concentration Inequalities*, 2013, §2.5 maximal inequalities / Bernstein), capped at T.

    The checkpointed forward's eager expert loop holds the previous and the current expert's
    routed tokens at once (``_gc_block_forward``); each is taken at this bound (their sum is at
    most twice the busiest). Measured: tiny Mixtral at 1 x 64 tokens, 4 experts top-2 — mean 32,
    bound 39.1; the recorded run routed 45 and 40 to two consecutive experts."""
    p = k / E
    if E <= 1:
        return float(tokens)
    bound = tokens * p + math.sqrt(2 * tokens * p * (1 - p) * math.log(E)) + math.log(E) / 3
    return min(float(tokens), bound)


def _grouped(m: ModelSpec, P: HFPrecision) -> bool:
    """Whether ``m``'s routed experts run transformers' grouped_mm (``HFPrecision.experts``; Llama 4's dense bmm over
    every expert, ``MoESpec.all_experts_compute``, is its own)."""
    return P.experts in ("grouped_mm", AUTOEP_EXPERTS) and m.moe is not None and not m.moe.all_experts_compute


def _routed_params(m: ModelSpec) -> float:
    """The routed experts' parameters over the model's MoE layers."""
    from planner.spec.params import count_params

    return float(m.moe_layers * m.moe.experts * count_params(m).expert)


def _expert_loop_frame(m: ModelSpec, P: HFPrecision, tok: int) -> float:
    """What the eager expert loop's frame holds besides the saves, for as long as it runs
    (``MixtralExperts.forward``, models/mixtral/modeling_mixtral.py l.74-78, and its copies): the
    accumulator ``final_hidden_states = torch.zeros_like(hidden_states)`` (the stream dtype) and
    the int64 one-hot ``expert_mask`` (T, k, E + 1)."""
    return P.stream * m.hidden * tok + 8 * m.moe.top_k * tok * (m.moe.experts + 1)


def _grouped_combine_grad(m: ModelSpec, model_type: str, P: HFPrecision, tok: int) -> float:
    """The routed combine's gradient that grouped_mm's block makes before its recompute (lora58c): transformers 5.23
    integrations/moe.py ``grouped_mm_experts_forward`` ends ``weighted_out.view(num_tokens, num_top_k,
    hidden_dim).sum(dim=1)`` (then ``.to(hidden_states.dtype)``), with ``weighted_out = proj_out * sample_weights_g``
    in the product's dtype x: the expert output's with the routing weight's (the fp32 softmax of Mixtral's / Qwen3-MoE's
    routers: fp32 under autocast). The backward of ``sum`` hands an expanded (T, k, h) view of the incoming gradient
    and ``view``'s backward (``grad.reshape``) makes it contiguous: a (T x k, h) copy in x. Neither node keeps a tensor
    (derivatives.yaml ``sum.dim_IntList``: sizes; ``view``: sizes), so both run before the first unpack of a save (the
    inverse permutation's index, whose backward is the next node), which starts the non-reentrant recompute
    (torch/utils/checkpoint.py): the copy lives through it. Measured (tests/make_hfblk57_truth.py's live set at the
    peak, tiny Mixtral grouped_mm LoRA over a bf16 base, (2, 128)): an fp32 (256, 2, 64) ``clone`` made in the head's
    phase, 131,072 B, alive at the last block's index backward."""
    R = ROUTERS.get(model_type, Router())
    return max(_expert_dtype(P), 4 if R.weights == "fp32" else P.act) * m.moe.top_k * tok * m.hidden


def _rope_set_bytes(m: ModelSpec, model_type: str, seq: int, P: HFPrecision) -> float:
    """One set of RoPE tables: cos/sin of shape (1, s, d), shared by the batch, in the stream
    dtype (OLMo 2: fp32); Llama 4 a complex64 ``freqs_cis`` (1, s, 1, d/2)."""
    if model_type == "llama4_text":
        return seq * (m.head_dim // 2) * 8
    if m.mla is not None:
        drope = m.mla.qk_rope_head_dim
    else:
        drope = m.head_dim // 2 if model_type == "gpt_oss" else m.head_dim
    return 2 * seq * drope * (4 if model_type == "olmo2" else P.stream)


def _is_local(m: ModelSpec, model_type: str, i: int) -> bool:
    """Whether block ``i`` is a sliding-window/chunked one: HF puts them first in each pattern
    (only the count matters but for Llama 4, where RoPE (chunked) layers carry the q/k norm, and
    for which checkpointed blocks' inputs are freed when, ``hf_step_memory``)."""
    return i in _llama4_rope_layers(m) if model_type == "llama4_text" else i < m.local_layers


def _kind_inputs(m: ModelSpec, model_type: str, seq: int, batch: int, P: HFPrecision, impl: str,
                 rope_set: float) -> dict[bool, float]:
    """Under checkpointing, the inputs handed only to the local (key True) or only to the full
    (False) attention blocks, which the checkpoints of that kind's blocks alone hold: the 4-D
    masks — one per attention kind in eager (full and sliding: Gemma 2/3, gpt-oss, Llama 4), only
    the sliding one under sdpa (full layers use is_causal); eager: (b, 1, s, s) in the stream
    dtype, sdpa: a boolean (1, 1, s, s) expanded to the batch (Llama 4's chunked mask is built per
    batch row) — and Gemma 3's two RoPE tables (``rope_set`` each: local base for the sliding
    layers, global for the full ones; models/gemma3/modeling_gemma3.py passes
    ``position_embeddings[layer_type]``)."""
    one = seq * seq * (1 if _sdpa(impl) else batch * P.stream)
    padding = _padding_mask(impl)
    if _sdpa(impl) and (model_type == "llama4_text" or padding):
        one *= batch  # (a padding mask is built per batch row, and handed to the full layers too: padmask49)
    out = {}
    for local, present in ((True, m.local_layers > 0), (False, m.local_layers < m.layers)):
        if present:
            out[local] = ((one if (not _sdpa(impl) or local or padding) else 0.0)
                          + (rope_set if model_type == "gemma3_text" else 0.0))
    return out


def _llama4_rope_layers(m: ModelSpec) -> set[int]:
    """Llama 4: RoPE layers are all but every 4th (``no_rope_layers``); the spec keeps only the
    count (``local_layers``): the first ``local_layers`` of those (HF's default pattern)."""
    return set([i for i in range(m.layers) if i % 4 != 3][:m.local_layers])


def hf_param_cast_bytes(m: ModelSpec, model_type: str = "llama", checkpointing: bool = False) -> float:
    """AMP: autocast's cached bf16 copies of the fp32 weights its matmuls read
    (``param_casts_bytes``; torch caches the casts of leaf tensors that require grad for the
    whole autocast region): 2 bytes per element of every linear/expert/router weight and bias —
    the parameters less the embeddings and the norm weights, plus the tied head's matrix. Under
    gradient checkpointing the blocks' casts are made and freed inside each block's forward
    and recompute, so only the head's copy outlives the forward."""
    from planner.spec.params import count_params, head_linear_params, norm_params

    pc = count_params(m)
    head = head_linear_params(m)
    if checkpointing:
        return 2.0 * head
    qk = {"none": 0, "head": 2 * m.head_dim, "full": m.q_dim + m.kv_dim}[m.qk_norm]
    mla = (m.mla.q_lora_rank or 0) + m.mla.kv_lora_rank if m.mla is not None else 0
    norms = m.layers * (m.layer_norms * norm_params(m) + qk + mla) + pc.final_norm
    if m.mlm_head:
        norms += norm_params(m) + m.vocab  # the MLM transform's LayerNorm; the decoder bias is added
    sinks = m.layers * m.heads if m.attention_sinks else 0
    tied = m.vocab * m.hidden if m.tied_embeddings else 0
    return 2.0 * (pc.total - pc.embedding - norms - sinks + tied)


def _layernorm_blocks(m: ModelSpec, model_type: str, seq: int, batch: int, P: HFPrecision,
                      impl: str, checkpointing: bool, head_seq=None) -> tuple[float, float, list]:
    """GPT-2 (``modeling_gpt2.py``) and BERT (``modeling_bert.py``): LayerNorm, learned positions,
    dropout 0.1 (each dropout keeps its mask: in its input's dtype on CPU, 1 B on a GPU, ``HFPrecision.mask``;
    mk below), bias linears (GPT-2's
    ``Conv1D`` is an addmm). Per token:

    * LayerNorm keeps its input and the mean and rstd (r*(w + 2): autocast runs it in fp32);
    * each linear keeps its input (a*w; GPT-2's c_attn/c_fc, BERT's q/k/v read one tensor);
    * eager attention: GPT-2 keeps q as a view of c_attn's output (3h), k^T, v, the softmax (fp32
      under autocast), the dropout mask and the dropped probabilities (3 per score); BERT the same
      with q/k/v from their own linears; "sdpa" (the CPU, ``_ln_math``): the attention dropout takes the math path,
      all fp32: q, k, v (3h) and three per score; "fused" (a GPU, ``hf_attn_impl``): the kernel's saves, none a
      score (``_ln_fused_attention``);
    * MLP: GPT-2's tanh-GELU keeps 4 f-wide tensors, BERT's exact GELU its input; the output
      linear's input (f) and the dropout mask (h);
    * outside: ids, positions (GPT-2: (1, s) ids; BERT: a view of the 512-long position buffer),
      the embedding dropout mask and norm, the head (GPT-2: final norm + lm_head input; BERT's
      MLM transform: dense, GELU, LayerNorm, decoder input) and the loss: GPT-2 upcasts the
      logits (fp32 log-softmax, 4V), BERT does not (a*V, labels unshifted).
    """
    a, r = P.act, P.stream
    tok = seq * batch
    h, H = m.hidden, m.heads
    f = m.ffn_hidden
    d = m.head_dim
    bert = model_type == "bert"
    # CUDA autocast (``P.cuda_ops``) runs layer_norm in fp32 on an fp32 copy of its input (fp32 statistics); BERT's
    # stream is its LayerNorms' output, so fp32 there whatever the weights' dtype
    ln_b = 4 if P.cuda_ops else r
    ln = ln_b * (h + 2)
    if bert:
        r = ln_b
    logits = _logits(m, seq, batch, head_seq)
    mk = P.mask_bytes  # a dropout mask's bytes an element, by its input's

    def lin(n: int, w: float) -> float:  # as in hf_saved_bytes: one copy per linear under autocast
        return n * a * w if P.autocast else r * w

    if bert:
        # the MLM head's LayerNorm reads the GELU's output (a), with fp32 statistics under
        # autocast; its loss's log-softmax is an fp32 op under autocast, else in the logits' dtype
        head_ln = (4 * h + 8) if P.cuda_ops else a * h + 2 * (4 if P.autocast else a)
        lsm = _loss_saves(model_type, P)[0]
        outside = _bert_embedding_saves(m, P, r, tok)  # (ln is r (h + 2) here: BERT's r is its LayerNorm's)
        if m.output_head == "classifier":
            outside += _bert_classifier_saves(m, P, r, tok, batch) + lsm * logits + 8 * batch + lsm
        else:
            # the MLM head and its loss on the rows it runs on (``head_seq``: DLE's ``dense_sequence_output``
            # index_selects the masked rows first, keeping their int64 index; every row otherwise)
            rows = float(head_positions(m, seq, head_seq)) * batch
            gather = 8 * rows if head_seq is not None else 0
            outside += rows * (lin(1, h) + a * h + head_ln + lin(1, h)) + lsm * logits + 8 * rows + lsm + gather
    else:
        outside = tok * (8 + mk(r) * h + ln + a * h) + _loss_saves(model_type, P)[0] * logits + 8 * seq + 8 * (tok + 1) + 4
    if checkpointing:
        # GPT-2's eager blocks get the (b, 1, s, s) mask; BERT without padding gets none; under sdpa with padding
        # ("fused_mask") both get the boolean one
        mask = batch * seq * seq * r if (not _sdpa(impl) and not bert) else (batch * seq * seq if impl == "fused_mask"
                                                                             else 0)
        return m.layers * tok * (P.block_in or r) * h + mask, outside, []
    o_in = a * h  # the output projection's input (under a fused kernel its output, which the kernel keeps too)
    if _ln_math(impl):  # the CPU's sdpa: the attention dropout forces the math path, which computes in fp32
        attn = 4 * (3 * h + 2 * H * seq) + mk(4) * H * seq
    elif _sdpa(impl):
        attn, o_in = _ln_fused_attention(m, model_type, P, impl, seq), 0.0
    elif bert:
        # CUDA autocast: the dtype-less softmax returns fp32, its dropout mask follows (fp32 on CPU), the AV matmul casts
        # (torch < 1.11, ``HFPrecision.softmax_input``: the softmax's input too, the masked scores at its dtype)
        sm = 4 if P.cuda_ops else a
        attn = a * 3 * H * d + (sm + mk(sm) + a) * H * seq + (sm * H * seq if P.softmax_input else 0)
    else:  # q is a view of c_attn's output: the bmm keeps all of it at batch 1, a copy above;
        # torch.where with the fp32 mask_value promotes the scores (and softmax) to fp32 under autocast, as CUDA
        # autocast's softmax does on a bf16 stream
        # the probabilities are cast to v's dtype (``.type(value.dtype)``) before the dropout
        sm = r if P.autocast and not P.cuda_ops else (4 if P.cuda_ops else a)
        attn = a * (2 * H * d + (3 * h if batch == 1 else H * d)) + sm * H * seq + (mk(a) + a) * H * seq
        attn += sm * H * seq if P.softmax_input else 0  # torch < 1.11: the softmax's input too (its dtype: sm)
    # GPT-2's tanh-GELU (transformers ``NewGELUActivation``) keeps 4 f-wide tensors; under CUDA autocast its
    # ``torch.pow(x, 3)`` casts x up, so the fp32 copy, the tanh and 1 + tanh are fp32 (0.5 x stays bf16)
    gelu = (a * f + 12 * f) if P.cuda_ops else 4 * a * f
    mlp = (a * f if bert else gelu) + a * f + mk(a) * h
    # BERT's query/key/value each cast under autocast, unless the block's input is bf16 already (FSDP2: one tensor)
    qkv_in = (a * h if P.block_in else lin(3, h)) if bert else lin(1, h)
    per_layer = 2 * ln + qkv_in + attn + o_in + mk(a) * h + lin(1, h) + mlp
    attn_part = ln + qkv_in + attn + o_in + mk(a) * h  # norm, q/k/v inputs, core, o input, dropout mask
    return m.layers * per_layer * tok, outside, [(attn_part, per_layer - attn_part)] * m.layers


def _bert_classifier_saves(m: ModelSpec, P: HFPrecision, r: float, tok: int, batch: int) -> float:
    """What ``BertForSequenceClassification``'s head keeps from its forward to its backward, the loss's log-softmax
    and labels left out (transformers models/bert/modeling_bert.py ``BertPooler``: ``dense(hidden_states[:, 0])``,
    ``tanh``; then ``dropout`` and ``classifier``). The pooler's dense keeps its input: the [CLS] slice, a view of the
    encoder's output (``r`` a token: the last LayerNorm's output), whose whole storage autograd keeps -- unless
    autocast casts the slice first, when it keeps the cast copy, one row a sequence; then a sequence's tanh output
    and dropout mask in the activation dtype and the classifier's input (recorded: tests/data/head50.json, fp32 and
    CUDA autocast; tests/test_head50.py)."""
    h, a = m.hidden, P.act
    pooler_in = batch * a * h if P.autocast else tok * r * h
    return pooler_in + batch * h * (a + P.mask_bytes(a) + a)


#: families whose blocks are not the RMSNorm/RoPE decoder above
LAYERNORM_FAMILIES = {"gpt2", "bert"}


def _ln_math(impl: str) -> bool:
    """Whether GPT-2's / BERT's attention takes sdpa's decomposed math path: "sdpa" is the CPU's dispatch (the
    recordings), where their attention dropout (0.1) rules out the CPU flash kernel (torch 2.13
    aten/src/ATen/native/transformers/sdp_utils_cpp.cpp ``use_flash_attention_cpp``: ``check_for_dropout``), so
    ``select_sdp_backend_cpp`` falls to math; a GPU runs the dropout inside its fused kernel ("fused",
    ``hf_attn_impl``)."""
    return impl == "sdpa"


def _ln_fused_attention(m: ModelSpec, model_type: str, P: HFPrecision, impl: str, seq: int) -> float:
    """Bytes a token and layer that GPT-2's / BERT's attention keeps under a fused sdpa kernel with its dropout in the
    kernel (a GPU: ``hf_attn_impl`` "fused"): q, k, v, the output (the output projection's input) and the fp32
    log-sum-exp (H a token) -- ``_scaled_dot_product_flash_attention``'s backward inputs (torch
    tools/autograd/derivatives.yaml; the philox seed / offset are two int64 scalars), none a score. q, k and v in the
    activation dtype (the linears' outputs); GPT-2's q is a view of ``c_attn``'s 3h-wide output (the kernel keeps the
    whole storage) and its k / v are the DynamicCache's copies (``torch.cat``), so 3h + 2h; BERT's three h-wide
    linear outputs. "fused_mask" (padded rows: ``hf_attn_impl``): the mem-efficient kernel, which also keeps its
    ``attn_bias``, the (b, 1, s, s) mask sdpa converted to q's dtype (aten/src/ATen/native/transformers/attention.cpp
    ``convert_boolean_attn_mask``; a view expanded over the heads): s a token and layer. Recorded on CPU with the
    attention dropout at 0, where sdpa runs ``_scaled_dot_product_flash_attention_for_cpu``, whose saves are the same
    set, the converted mask included (tests/data/hf_activations.json ``flash``, tests/test_sdpa49.py); in fp32 too
    (``padfam`` ``fp32_fused``, padfam50), where a GPU runs the mem-efficient kernel, whose log-sum-exp rows are
    padded (``_ln_lse_rows``)."""
    h = m.hidden
    qkv = (3 + 2) * h if model_type == "gpt2" else 3 * h
    return P.act * (qkv + h + (seq if impl == "fused_mask" else 0)) + 4 * m.heads * _ln_lse_rows(P, seq) / seq


#: the mem-efficient kernel's log-sum-exp rows are a multiple of this (torch aten/src/ATen/native/transformers/cuda/
#: attention.cu ``_efficient_attention_forward``: ``ceil_div(max_seqlen_q, kAlignLSE) * kAlignLSE``, the kernel's
#: ``kAlignLSE = 32``, "block size of backward", mem_eff_attention/kernel_forward.h; read in the versions a code search
#: held, torch and xformers' ``efficient_attention_forward_cutlass`` alike, not pinned to 2.13)
MEM_EFF_LSE_ALIGN = 32


def _ln_lse_rows(P: HFPrecision, seq: int) -> int:
    """The fp32 log-sum-exp rows a batch row and head that GPT-2's / BERT's fused sdpa kernel keeps: ``seq`` (flash,
    bf16 / fp16), or in fp32 -- which flash and cuDNN refuse (16-bit only: cuda/sdp_utils.cpp ``check_tensor_dtype``),
    so the mem-efficient kernel runs -- ``seq`` rounded up to ``MEM_EFF_LSE_ALIGN``. Its other outputs, the philox
    seed / offset, are CPU scalars outside CUDA-graph capture (the same function: ``device = in_capture_stream ?
    kCUDA : kCPU``): no GPU bytes. Not applied to "fused_mask" in 16 bits, which cuDNN may take instead (its
    log-sum-exp unpadded)."""
    return -(-seq // MEM_EFF_LSE_ALIGN) * MEM_EFF_LSE_ALIGN if P.act == 4 else seq


def liger_chunk_tokens(vocab, hidden, tokens):
    """Rows of logits Liger Kernel's fused linear cross-entropy materialises at once: it splits the ``tokens`` (BT)
    rows into chunks so a chunk's logits hold about as many elements as the BT x H input
    (liger_kernel/ops/fused_linear_cross_entropy.py ``fused_linear_cross_entropy_forward``: ``inc_factor =
    cdiv(V, chunk_mem_const * H)`` with ``chunk_mem_const`` 1, ``chunk_size = next_power_of_2(cdiv(BT, inc_factor))``,
    at most BT). Llama-3's V = 128,256, H = 4,096 at BT = 32,768: inc_factor 32, chunks of 1,024 rows, 32 of them.

    ``tokens`` a number or an array (float rows).

    >>> int(liger_chunk_tokens(128256, 4096, 32768)), int(liger_chunk_tokens(32000, 4096, 4096 * 4))
    (1024, 2048)
    """
    tokens = np.asarray(tokens, dtype=np.float64)
    rows = np.ceil(tokens / math.ceil(vocab / hidden))
    return np.minimum(2.0 ** np.ceil(np.log2(np.maximum(rows, 1.0))), tokens)


@dataclass(frozen=True)
class FusedCEBytes:
    """What Liger Kernel's ``LigerFusedLinearCrossEntropyFunction`` holds in a training step, against the eager head
    and loss it replaces (bytes; ``fused_ce_bytes``). ``eager_saved``: what the eager ``lm_head`` + loss keep after
    the forward (the head's input, the fp32 log-softmax, Gemma 2's soft-cap tanh); ``saved``: what the fused one keeps
    instead: ``ctx.save_for_backward(grad_input, grad_weight, grad_bias)`` -- the loss's gradient with respect to the
    final norm's output, computed in the forward (``zeros_like(_input)``: the stream dtype, H per token), and the
    head's weight gradient where the head trains (``zeros_like(weight)``: the parameters' dtype); ``transient``: alive
    only while its forward runs: one chunk's logits (``liger_chunk_tokens`` x V in the activation dtype; the
    cross-entropy kernel writes their gradient in place), the fp32 per-token ``loss_1d`` and, under autocast with a
    frozen head, the head weight's 16-bit cast that autocast does not cache (``cached_cast``: leaves that require
    grad only). Its backward only scales the saved gradients in place (``element_mul_kernel``): no vocab-wide
    tensor there. The model returns no logits in training (liger_kernel/transformers/model/llama.py ``lce_forward``:
    ``skip_logits = self.training and labels is not None``)."""
    eager_saved: float
    saved: float
    transient: float
    saved_weight: float = 0.0  # the part of ``saved`` that is the head's weight gradient (weight-sized)
    transient_weight: float = 0.0  # the part of ``transient`` that is the frozen head weight's cast (weight-sized)


def liger_patches(m: ModelSpec) -> bool:
    """Whether Liger Kernel's fused linear cross-entropy can replace the model's loss: its ``apply_liger_kernel_to_*``
    patches cover the RMSNorm decoders (llama, mistral, mixtral, gemma, qwen2, qwen3, phi3, ... in
    liger_kernel/transformers/monkey_patch.py ``MODEL_TYPE_TO_APPLY_LIGER_FN``), not GPT-2 or BERT."""
    return m.is_transformer and hf_model_type(m) not in LAYERNORM_FAMILIES


def fused_ce_bytes(m: ModelSpec, model_type: str, seq: int, batch: int, precision: str = "bf16",
                   head_trains: bool = True, bf16_weights: bool = False) -> FusedCEBytes:
    """``FusedCEBytes`` of one micro-batch of ``batch`` x ``seq`` tokens (the eager part as ``saved_rows``'
    ``outside`` counts it). ``bf16_weights``: the head's weight reaches the loss in bf16 under autocast (FSDP's
    ``MixedPrecision(param_dtype=bf16)``: ``hf_step_memory``'s ``weight_casts=False``), so its gradient is bf16. Checked on CPU against a torch re-implementation of Liger's chunk loop (tests/
    test_liger36.py: ``saved_tensors_hooks`` and the chunk loop's peak allocation)."""
    P = PRECISIONS[precision]
    a, r = P.act, P.stream
    tok = seq * batch
    h, V = m.hidden, m.vocab
    lg = rank_logits(m, seq, batch)
    logits = float(lg.shard)
    head_in = a * h if (P.autocast and r != a) else r * h  # the eager lm_head's saved input (``lin(1, h)``)
    lsm, cap = _loss_saves(model_type, P)
    eager = tok * head_in + lsm * logits + cap * logits
    # the head weight's dtype: a bf16 model or FSDP's bf16 gather, else fp32 (autocast's fp32 model, fp32)
    pb = 2 if (precision == "bf16" or (P.autocast and bf16_weights)) else 4
    head_grad = pb * V * h if head_trains else 0.0
    saved = tok * r * h + head_grad
    chunk = float(liger_chunk_tokens(V, h, tok))
    head_cast = 2.0 * V * h if (P.autocast and not head_trains) else 0.0
    transient = a * float(lg.chunk(chunk)) + 4 * tok + head_cast
    return FusedCEBytes(eager, saved, transient, head_grad, head_cast)


@dataclass(frozen=True)
class HFStepMemory:
    """Tensor memory of one training step of the HF code (bytes; parameters and inputs, which
    exist before the step, excluded — as in the truth's ``live_*``). ``saved``: what autograd
    keeps (``hf_saved_bytes``); ``weight_casts``: autocast's bf16 weight copies (AMP); ``logits``
    and ``kv_cache``: what the forward's output keeps besides; ``after_forward`` their sum;
    ``peak_forward`` / ``peak_step``: the largest live total in the forward / forward+backward,
    gradients (``grads``) included; ``vocab``: the logits and the loss's vocab-wide transients at the larger
    of the loss's forward and backward (the logits only in the forward where the caller drops the model output
    before ``backward``, ``hf_step_memory``'s ``output_held``)."""
    saved: float
    weight_casts: float
    logits: float
    kv_cache: float
    loss_transient: float  # the loss's largest vocab-wide transient (forward upcast or backward)
    grads: float
    after_forward: float
    peak_forward: float
    peak_step: float
    vocab: float


def hf_step_memory(m: ModelSpec, model_type: str, seq: int, batch: int, precision: str = "bf16",
                   impl: str = "eager", checkpointing: bool = False, keep_grads: bool = True,
                   weight_casts: bool = True, fused_ce: bool = False, output_held: bool = True,
                   head_seq=None, experts: str = "eager") -> HFStepMemory:
    """``hf_step_walk``'s totals (its moments left out)."""
    return hf_step_walk(m, model_type, seq, batch, precision, impl, checkpointing, keep_grads, weight_casts, fused_ce,
                        output_held, head_seq, experts)[0]


def hf_step_walk(m: ModelSpec, model_type: str, seq: int, batch: int, precision: str = "bf16",
                 impl: str = "eager", checkpointing: bool = False, keep_grads: bool = True,
                 weight_casts: bool = True, fused_ce: bool = False,
                 output_held: bool = True, head_seq=None, experts: str = "eager",
                 attn_bwd_extra: float = 0.0) -> tuple[HFStepMemory, np.ndarray]:
    """Live tensor memory through one forward+backward of the HF code, from the saved-tensor table.

    * after the forward: the saved tensors, autocast's weight copies, the logits (in the compute
      dtype; GPT-2/BERT/Llama … return them un-upcast) and — eager, no checkpointing — the
      ``DynamicCache`` the decoder fills even in training (``use_cache`` is on unless gradient
      checkpointing turns it off): k and v per layer as the attention received them, a second
      copy wherever ``repeat_kv`` expanded them (k/v heads < heads);
    * peak of the forward: the loss upcasts bf16 logits to fp32 (``logits.float()``, 4V per
      token) next to its fp32 log-softmax; under checkpointing a block's forward runs without
      saving, so the peak may be the last block's own working set (``_gc_block_forward``) on top
      of the checkpoint inputs and autocast's cached weight copies;
    * peak of the step: an ordered liveness walk (``_Walk``): the loss backward's two vocab-wide
      gradients on top of the forward's end, the head, then each block in reverse order op by op
      where the peak can fall (``_block_backward``: recompute, MLP/MoE phase, attention phase),
      the embeddings last.

    Measured (tests/test_hf_memory.py, README "Measured errors"): ``after_forward`` within 3%
    for every family and case; ``peak_forward`` and ``peak_step`` within 5% for all 360
    classes of case (family x quantity x attention x precision x checkpointing, 4 shapes each).
    The MoE checkpointed forward takes each held expert at an upper bound of the busiest
    expert's expected load under uniform routing (``busiest_expert_tokens``), not the mean.

    Not included: the caching allocator's reserve/fragmentation (not measurable on CPU; the GPU
    plan adds ``memory.FRAGMENTATION`` = 5% on the dynamic part).

    For a plan (``planner.model.memory``), two switches take out what a training stack holds
    elsewhere; both default to what plain autograd + autocast does (the truth's runs):
    ``keep_grads=False``: the parameter gradients do not stay where the walk makes them (a
    stack that copies each into a preallocated or sharded buffer and frees it: the buffer is the
    plan's gradient term) — each weight gradient still lives from its matmul's backward to the
    end of its block's phase; ``weight_casts=False``: no autocast copies of the weights (a stack
    that gathers the weights in bf16 itself, FSDP's ``MixedPrecision(param_dtype=bf16)``; its
    gathered layers are the plan's weight term) — nor of the expert slices: torch's autocast casts an argument only
    where its dtype is not the target's (aten/src/ATen/autocast_mode.cpp ``cached_cast``: ``arg.scalar_type() !=
    to_type``; it caches only leaves that require grad and are no views, so over fp32 weights an eager loop's
    ``gate_up_proj[expert_idx]`` slice is cast at each call and its copy saved by the matmul), and a bf16 slice of a
    bf16 weight is passed as it is (until mem45 the walk freed those copies in each expert's backward, never having
    made them: up to two experts' bf16 copies short in the MoE phase). ``fused_ce``: the loss is Liger Kernel's fused linear cross-entropy
    (``fused_ce_bytes``): no logits returned, the head's saves replaced by the loss's gradients,
    one chunk's logits the only vocab-wide transient (the RMSNorm decoders; Liger patches no
    GPT-2 / BERT). ``output_held``: the caller keeps the model's output (``logits`` and ``past_key_values``,
    the DynamicCache: ``kv_cache``) referenced through ``backward``, as the recording harness did
    (tests/make_hf_common.py ``training_step``: ``out = model(**inputs)``, ``out.loss.backward()``, ``out``
    read after). False: the HF Trainer's loop, which drops it before ``backward`` -- transformers
    trainer.py ``compute_loss`` keeps ``outputs = model(**inputs)`` in its own frame and returns ``loss``
    alone (``return_outputs`` False; ``args.past_index`` -1 keeps no ``outputs[past_index]``), then
    ``training_step`` calls ``self.accelerator.backward(loss)``. Nothing autograd saved references either
    tensor (``ForCausalLMLoss`` upcasts with ``logits.float()``, whose backward saves nothing, and the
    log-softmax saves its output; the cache holds the pre-``repeat_kv`` / pre-cast k and v), so both are
    freed before the loss's backward: 12 B a logit at its peak instead of 14 at bf16 (castce36; measured with
    the Trainer's sequence of calls in tests/test_hfloss37.py). The forward is unchanged.

    Returned with the step's moments (``_Walk.moments``): an (n, 3) array of (live total, its vocabulary-wide part,
    its weight-sized part) at each point the peak can fall, the forward's candidates first; the largest live
    total among them is ``max(peak_forward, peak_step)``, bit for bit (hfwalk44). The vocabulary-wide part is the
    logits and the loss's transients that ``vocab`` counts and, until the head's backward frees them, the loss's
    vocabulary-wide saves (``_loss_saves``: the fp32 log-softmax, Gemma 2's soft-cap tanh), so the largest of it
    over the moments is ``vocab`` plus those saves -- and, with the same rule on a rank (whole on every TP rank, over
    cp), the tokens' tensors outside the blocks: until the head's backward the saves ``saved_rows`` puts outside
    them less the loss's (the ids, the final norm's saves, the head's input or Liger's gradient of it, the labels),
    after it the labels, the embeddings' saves and the gradient the head hands the final norm. transformers' head
    is a column split of a replicated input (integrations/tensor_parallel.py ``ColwiseParallel``:
    ``desired_input_layouts = (Replicate(),)``, its input's gradient all-reduced in the backward; the plan names
    no norm), DeepSpeed AutoTP's ``LmHeadLinearAllreduce`` reads the whole hidden states: every TP rank holds
    them whole (mem45; until then they were in the layers' part, at ``hf_tp_share``). The weight-sized part is the parameter gradients, autocast's
    cached bf16 weight copies (each freed with its matmul's backward, ``_block_backward``'s ``wcast``; under
    checkpointing made again by each block's recompute) and Liger's saved head-weight gradient
    (``FusedCEBytes.saved_weight``). Until hfvocab44 the saves and the copies were in the layers' part.

    ``attn_bwd_extra``: bytes a fused attention kernel's backward holds beside its q / k / v gradients in every block
    (layers' part, at the unsplit step's scale; ``_block_backward``) -- PyTorch's ``context_parallel`` ring backward's
    buffers where the HF Trainer runs accelerate's torch CP (memory_activations ``_hf_walk_arrays``, hfcp54); 0 else.
    """
    from planner.spec.params import count_params, head_linear_params

    P = hf_precision(precision, experts)
    a, r = P.act, P.stream
    tok = seq * batch
    h, H, V, L = m.hidden, m.heads, m.vocab, m.layers
    bert = model_type == "bert"
    saved = hf_saved_bytes(m, model_type, seq, batch, precision, impl, checkpointing, head_seq, experts)
    # autocast copies fp32 weights only: over bf16 ones (``amp_bf16_w16_cuda``, FSDP's gathered bf16) it makes none
    cw = 1.0 if weight_casts and P.param == 4 else 0.0
    casts = cw * hf_param_cast_bytes(m, model_type, checkpointing) if P.autocast else 0.0
    if P.autocast and not checkpointing and _grouped(m, P):
        casts -= cw * 2.0 * _routed_params(m)  # grouped_mm casts the input to the weights' dtype, no weight
    n_logits = _logits(m, seq, batch, head_seq)
    logits = a * n_logits
    lsm, cap = _loss_saves(model_type, P)  # the loss' log-softmax dtype, Gemma 2's soft-cap tanh
    kv = 0.0
    if not checkpointing and not bert and model_type != "gpt2":
        kvh = H if m.mla is not None else m.kv_heads
        dqk = (m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim) if m.mla is not None else m.head_dim
        dv = m.mla.v_head_dim if m.mla is not None else m.head_dim
        # the cache holds k/v as the attention got them; they are extra where what was saved
        # is another storage: repeat_kv's expanded copies (eager, or sdpa with a sliding mask)
        # or, under autocast, the bf16 casts of the fp32 (RoPE'd, stream-dtype) k and v
        expanded = (L if impl in ("eager", "fused_mask") else m.local_layers) if kvh < H else 0
        # (OLMo 2 and Llama 4 cast q/k back to the activation dtype after RoPE: no fp32 k/v)
        back = model_type in ROPE_CASTS_BACK or m.mla is not None
        kv = (L if P.autocast and not back else expanded) * tok * (a if back else r) * kvh * (dqk + dv)
    elif not checkpointing and model_type == "gpt2" and _ln_math(impl):
        # GPT-2's DynamicCache keeps k and v (the cache's own copies) where sdpa's math path saves fp32 upcasts of them
        # instead (eager and a fused kernel save the cached tensors themselves): recorded, tests/data/
        # hf_activations.json ``details`` gpt2 sdpa after the forward 2 a h a token and layer over the saves, the
        # logits and the loss (hfstep48: the -2..-3% after-forward and the (1, 64) peak's -5% of hfmem48 were this;
        # ``flash``: none over them, sdpa49)
        kv = L * tok * a * 2 * h
    fused = fused_ce and model_type not in LAYERNORM_FAMILIES
    # the moments' vocabulary-wide saves (the log-softmax, the soft-cap tanh) and weight-sized tensors (autocast's
    # copies; Liger's saved head-weight gradient) alive from the forward to the head's backward
    v_saved, w_fwd = (lsm + cap) * n_logits, casts
    if fused:
        fc = fused_ce_bytes(m, model_type, seq, batch, precision, bf16_weights=not weight_casts)
        saved += fc.saved - fc.eager_saved
        logits = 0.0
        v_saved, w_fwd = 0.0, casts + fc.saved_weight
    after = saved + casts + logits + kv
    loss_fwd = 4 * n_logits if (lsm == 4 and a != 4) else 0.0  # logits.float()
    if P.autocast and not bert:
        loss_fwd += r * h * tok  # the final norm's fp32 output (lm_head saved its bf16 cast)
    loss_bwd = 2 * lsm * n_logits
    if fused:  # one chunk's logits in the forward; the backward scales the saved gradients in place
        loss_fwd, loss_bwd = fc.transient, 0.0
    pc = count_params(m)
    gb = P.param  # gradients in the parameters' dtype
    grads = pc.total * gb
    # the forward: what the blocks keep grows block by block; under checkpointing each block's
    # forward frees what it does not keep, so its peak is its own working set on top
    peak_fwd = after + loss_fwd
    _, outside, rows = saved_rows(m, model_type, seq, batch, precision, impl, False, head_seq, experts)
    if fused:  # the loss's saved gradients go where the head's saves went (the head's, the stream's gradients)
        outside += fc.saved - fc.eager_saved
    # the tokens' tensors outside the blocks, whole on every TP rank (``hf_rank_peak``): the ids, the final norm's
    # saves, the head's input (Liger: the loss's gradient with respect to it), the labels -- ``outside`` less its
    # vocabulary-wide and weight-sized saves
    out_whole = outside - v_saved - (fc.saved_weight if fused else 0.0)
    v_fwd = logits + loss_fwd + v_saved + out_whole  # the forward's tensors whole on a TP rank at its end
    fwd_moments = [(peak_fwd, v_fwd, w_fwd)]
    if checkpointing:
        blocks_gc, _ = hf_saved_parts(m, model_type, seq, batch, precision, impl, True, head_seq, experts)
        base = blocks_gc - L * tok * r * h  # RoPE tables, masks, position ids
        attn_ws, mlp_ws = _gc_block_forward(m, model_type, seq, batch, P, impl)
        attn_late, mlp_late = (cw * x for x in _late_casts(m, model_type, P))
        # autocast caches every weight's bf16 copy until the forward leaves it: at the last
        # block's attention all but that block's later copies (``_late_casts``) are made
        # (not the experts': a slice of the 3-D weight is no leaf, so its copy is not cached)
        block_casts = cw * hf_param_cast_bytes(m, model_type) - casts if P.autocast else 0.0
        if P.autocast and m.moe is not None and not m.moe.all_experts_compute:
            block_casts -= cw * 2.0 * _routed_params(m)
        # (at the last block's peak: the blocks' copies less that block's not yet made, the head's not made)
        late = attn_late if attn_ws - attn_late >= mlp_ws - mlp_late else mlp_late
        fwd_moments = [(peak_fwd + block_casts, v_fwd, w_fwd + block_casts),
                       (base + L * tok * r * h + block_casts + max(attn_ws - attn_late, mlp_ws - mlp_late), 0.0,
                        block_casts - late)]
        peak_fwd = max(fwd_moments[0][0], fwd_moments[1][0])
    # the backward: the loss' two vocab-wide gradients on top of the forward's end; then the head
    # and final norm (their saves freed, their gradients and the residual stream's made), the
    # blocks in reverse order, the embedding's gradient last
    # what the backward starts from: the Trainer's loop has dropped the model output (``output_held``)
    held = after if output_held else after - logits - kv
    v_held = logits if output_held else 0.0
    w = _Walk(held, v_held + v_saved + out_whole, w_fwd)
    w.vocab = v_held + v_saved + loss_bwd + out_whole
    w.op(loss_bwd)
    # a tied head's gradient waits in the embedding's gradient buffer until the embedding's
    # own is summed into it; the causal LMs' shifted labels stay (BERT's labels are the input's)
    tied = V * h if m.tied_embeddings else 0
    gk = gb if keep_grads else 0  # the gradients that stay (``keep_grads``)
    g_head = gk * (pc.lm_head + pc.final_norm + tied)
    head_cast = cw * 2.0 * head_linear_params(m) if P.autocast else 0.0
    labels = 0 if bert else 8 * (tok + 1)
    # the embeddings' saves (GPT-2: its dropout mask and position ids; BERT: its LayerNorm's,
    # dropout mask, position/type ids) are freed last, with the embedding's backward
    pre = 0.0
    if model_type == "gpt2":
        pre = P.mask_bytes(r) * h * tok + 8 * seq
    elif bert:
        pre = _bert_embedding_saves(m, P, r, tok)
    w.level = held - outside + pre + labels - head_cast + g_head + r * h * tok
    # (whole on a TP rank from here on: the labels, the embeddings' saves and the gradient the head's backward hands
    # the final norm -- the colwise head's input gradient is all-reduced -- then the residual stream's)
    w.vocab, w.wsized = v_held + pre + labels + r * h * tok, g_head + (casts - head_cast)  # the blocks' copies stay
    moe_ids = set(m.moe_layer_ids) if m.moe_layers else set()
    # under checkpointing, the inputs only one attention kind's blocks get (``_kind_inputs``) go
    # with the checkpoint of the lowest block of that kind (its backward frees the last reference)
    last_of_kind = {}
    if checkpointing and model_type not in LAYERNORM_FAMILIES:
        rope_set = _rope_set_bytes(m, model_type, seq, P)
        for local, nbytes in _kind_inputs(m, model_type, seq, batch, P, impl, rope_set).items():
            last_of_kind[min(i for i in range(L) if _is_local(m, model_type, i) == local)] = nbytes
    _blocks_backward(w, m, model_type, seq, batch, P, impl, checkpointing, rows, moe_ids, gb, gk, cw, last_of_kind,
                     attn_bwd_extra=attn_bwd_extra)
    w.op(gb * pc.embedding, r * h * tok + gk * tied + pre + (0 if keep_grads else gb * pc.embedding),
         gb * pc.embedding, gk * tied + (0 if keep_grads else gb * pc.embedding))  # (the last two: gradients)
    peak = w.peak
    vocab = logits + max(loss_fwd, loss_bwd) if output_held else max(logits + loss_fwd, loss_bwd)
    st = HFStepMemory(saved, casts, logits, kv, max(loss_fwd, loss_bwd), grads, after, peak_fwd, peak, vocab)
    return st, np.asarray(fwd_moments + w.moments, dtype=np.float64)


def hf_walk_front(moments: np.ndarray) -> np.ndarray:
    """The moments of a step (``hf_step_walk``) at which a rank's peak can fall, whatever its shares: each dropped
    moment is bounded by a kept one with the same vocabulary-wide part in its layers' part (total less
    vocabulary-wide part less weight-sized part) and its weight-sized part, and the moment of the largest total
    (the unsplit peak) is kept. Why that is exact: a rank's value at a moment, ``hf_rank_peak``'s ``(layers x share
    + vocab) / cp + wsized x g_share``, grows with each part (the shares are >= 0, cp >= 1), so a bounded moment's
    value is at most its bound's. Three parts, not more, is what keeps the front a sweep: the weight-sized tensors (the
    gradients, autocast's weight copies, Liger's head-weight gradient) all split as the weights do, one share, and
    the tokens' tensors outside the blocks go with the vocabulary-wide ones, whole on a TP rank (mem45).
    The vocabulary-wide part takes a few values (the forward's end, the loss's backward, after the head): per value,
    a sweep from the largest layers' part down keeps a moment where its weight-sized part passes all before it.
    With kept gradients the layers' part falls and the gradients grow block by block, so one moment or two a block
    stay (Llama-3-70B at 4k, bf16: 164 of 484, checkpointed 86 of 565); without them a handful."""
    level, vocab, wsized = moments.T
    rest = level - vocab - wsized
    cand = [np.array([np.argmax(level)])]
    for v in np.unique(vocab):
        idx = np.flatnonzero(vocab == v)
        o = idx[np.lexsort((-wsized[idx], -rest[idx]))]  # layers' part falling, ties: weight-sized falling
        g = wsized[o]
        cand.append(o[g > np.maximum.accumulate(np.concatenate([[-np.inf], g[:-1]]))])
    return moments[np.unique(np.concatenate(cand))]


def hf_rank_peak(moments: np.ndarray, share: float, g_share: float, cp: float = 1.0) -> float:
    """One rank's peak of a walked step: the largest over the step's moments (``hf_step_walk``, or their
    ``hf_walk_front``) of ``(layers x share + vocab) / cp + wsized x g_share``: the layers' part (the saves,
    activation gradients and transients) at the rank's share of a layer's activations (memory_activations ``hf_tp_share``),
    the vocabulary-wide tensors and the tokens' tensors outside the blocks (the head's input, the final norm's
    saves, the labels: ``hf_step_walk``; mem45) whole, both over the context-parallel ranks (each holds its own tokens' activations
    and logits), and the weight-sized tensors (parameter gradients, autocast's weight copies, Liger's head-weight
    gradient) at the rank's share of the weights (memory_activations ``hf_grad_share``: a copy or a gradient is the size of the
    rank's weight) and NOT over cp: context parallelism splits the sequence, not the weights (accelerate
    docs/source/concept_guides/context_parallelism.md: it "shard[s] the inputs to the attention computation along
    the sequence dimension"; torch's ``torch.distributed.tensor.experimental.context_parallel`` shards the
    ``buffers`` it is given along their ``buffer_seq_dims``), so every CP rank holds its whole TP shard's gradients
    and copies. Until hfcp44 the weight-sized part was divided by cp too (a CP2 rank held half its gradients and
    autocast copies). The vocabulary-wide tensors are whole on every TP rank because each HF TP path has the whole
    logits before the loss: transformers'
    ``LlamaForCausalLM._tp_plan = {"lm_head": "colwise_gather_output"}`` (models/llama/modeling_llama.py; 4.5x
    spelled it ``"colwise_rep"``, a column split whose output is gathered to a replicated tensor, in
    integrations/tensor_parallel.py), DeepSpeed AutoTP's ``LmHeadLinearAllreduce`` (module_inject/layers.py: the
    head split along the hidden dim, its partial (T, V) outputs all-reduced), so the log-softmax
    ``ForCausalLMLoss`` saves and the soft-cap's tanh are the full (T, V) on each rank. Written as the total less
    what the shares and cp take off, so that at share 1, g_share 1, cp 1 it is the walk's peak bit for bit. Until
    hfwalk44 one figure,
    ``(peak - vocab - grads) x share + vocab + grads x g_share``, took the peak's moment to hold all the logits and
    all the gradients at once: under checkpointing the peak falls late in the backward, logits freed, and the
    figure went negative (llama3-8b, TP8, checkpointed: -2.2 GB). A weight-sized amount alone (moments
    ``[[g, 0, g]]``: the gradients ``_hf_walk_arrays`` adds to a walk without them) comes out ``g x g_share``."""
    level, vocab, wsized = moments.T
    tp_off = (1.0 - share) * (level - vocab - wsized)  # what the layers' share takes off
    # (cp takes its part off the layers' and the vocabulary-wide parts alone: at cp 1 the term is 0.0, exactly)
    return float(np.max(level - tp_off - (1.0 - g_share) * wsized - (1.0 - 1.0 / float(cp)) * (level - tp_off - wsized)))


class _Walk:
    """The running total of live tensor bytes through an ordered sequence of ops: each op first
    allocates its outputs (the peak is read then), then frees what it consumed (autograd frees a
    node's saved tensors and its incoming gradient once the node has run).

    Besides the total, the walk follows two of its parts, which a tensor-parallel rank holds at other shares than
    the activations (memory_activations ``_hf_walk_arrays``): ``vocab``, the tensors whole on every TP rank -- the vocabulary-wide
    ones (the gathered logits, the loss's transients and its vocabulary-wide saves) and the tokens' tensors outside
    the blocks (``hf_step_walk``; mem45) --, set by the caller; ``wsized``, the weight-sized tensors (the
    parameter gradients, autocast's bf16 weight copies, Liger's saved head-weight gradient), which an op names in
    ``ws_alloc`` / ``ws_free`` (parts of ``alloc`` / ``free``). ``moments``: (level, vocab, wsized) at each point the
    peak is read, the start included, so that ``peak`` is the largest level among them (hfwalk44, hfvocab44)."""

    def __init__(self, level: float, vocab: float = 0.0, wsized: float = 0.0):
        self.level = level
        self.peak = level
        self.vocab = vocab
        self.wsized = wsized
        self.moments = [(level, vocab, wsized)]

    def op(self, alloc: float = 0.0, free: float = 0.0, ws_alloc: float = 0.0, ws_free: float = 0.0) -> None:
        self.level += alloc
        self.wsized += ws_alloc
        self.peak = max(self.peak, self.level)
        self.moments.append((self.level, self.vocab, self.wsized))
        self.level -= free
        self.wsized -= ws_free


def _blocks_backward(w: _Walk, m: ModelSpec, model_type: str, seq: int, batch: int, P: HFPrecision, impl: str,
                     checkpointing: bool, rows: list, moe_ids: set, gb: int, gk: float, cw: float, last_of_kind: dict,
                     replay: bool = True, attn_bwd_extra: float = 0.0) -> None:
    """The blocks' backward in reverse order (``_block_backward`` each), the checkpoint inputs of a kind freed with
    the lowest block of that kind (``last_of_kind``). A block's walk depends on the block only through its saves
    (``rows[i]``) and whether it is an MoE block, so it is walked once per row object and kind (``saved_rows``
    gives the blocks of a kind one row object; Llama-3-70B: one walk for its 80 blocks) and replayed on each block
    (``_Tape``: the same additions, so the same bits); ``replay=False`` walks every block itself (the reference
    tests/test_speed41.py holds the replay to)."""
    tapes: dict = {}
    for i in reversed(range(m.layers)):
        moe = i in moe_ids
        if not replay:
            _block_backward(w, m, model_type, seq, batch, P, impl, checkpointing, rows[i], moe, gb, gk, cw,
                            attn_bwd_extra)
        else:
            # by the row's identity (``rows`` keeps it alive): equal values of other types (1, 1.0) are not one key
            key = (id(rows[i]), moe)
            tape = tapes.get(key)
            if tape is None:
                tape = tapes[key] = _Tape()
                _block_backward(tape, m, model_type, seq, batch, P, impl, checkpointing, rows[i], moe, gb, gk, cw,
                                attn_bwd_extra)
            tape.replay(w)
        w.level -= last_of_kind.get(i, 0.0)


class _Tape:
    """One block's walk (``_block_backward``) recorded as additions from the level it starts at, to be replayed on
    every block with the same saves (speed41: walking every block was ~70% of a cold HF-stack memory call). It stands in
    for ``_Walk``: ``level`` is a ``_TapeLevel``, a step of the record, which adding or subtracting a number
    extends; ``op`` records where the peak is read. The record is runs of steps, each run a chain from one earlier
    step (the block's phases restart from a level read before: ``start`` in ``_block_backward``); a subtraction is
    kept as the addition of the negated operand, which IEEE 754 defines it as (x - y is x + (-y), rounded once; the
    negation is exact), so ``replay`` performs the same roundings on the same operands in the same order and reads
    the peak at the same points: the level and peak come out bit for bit as walking the block."""

    def __init__(self):
        self.runs: list = []  # [step the run starts from, its operands]; step 0 is the level the block starts at
        self.steps = 0
        self.reads: list = []  # the steps the peak is read at, in order
        self.level = _TapeLevel(self, 0)
        self.wsized = 0.0  # the weight-sized tensors made (less freed) since the block's start (``_Walk.wsized``)
        self.ws_reads: list = []  # ``wsized`` at each read

    def then(self, at: int, x) -> "_TapeLevel":
        """The step after ``at`` that adds ``x``."""
        if self.runs and at == self.steps:  # continues the last step: the same run
            self.runs[-1][1].append(x)
        else:
            self.runs.append([at, [x]])
        self.steps += 1
        return _TapeLevel(self, self.steps)

    def op(self, alloc: float = 0.0, free: float = 0.0, ws_alloc: float = 0.0, ws_free: float = 0.0) -> None:
        self.level += alloc
        self.wsized += ws_alloc
        self.reads.append(self.level.step)
        self.ws_reads.append(self.wsized)
        self.level -= free
        self.wsized -= ws_free

    def replay(self, w: _Walk) -> None:
        vals = [w.level]
        for at, xs in self.runs:
            run = accumulate(xs, add, initial=vals[at])  # a left fold: one rounding a step, in order
            next(run)
            vals.extend(run)
        # (max keeps the first of equal values, as _Walk.op's running max does)
        w.peak = max([w.peak, *map(vals.__getitem__, self.reads)])
        w.level = vals[self.level.step]
        # the moments: the levels as replayed, the weight-sized tensors from the block's start (not bit for bit the running
        # sum a block-by-block walk makes: within rounding)
        g0, v = w.wsized, w.vocab
        w.moments.extend([(vals[i], v, g0 + g) for i, g in zip(self.reads, self.ws_reads)])
        w.wsized = g0 + self.wsized


class _TapeLevel:
    """A level of a ``_Tape``: the block's start level followed through the recorded steps to ``step``."""
    __slots__ = ("tape", "step")

    def __init__(self, tape: _Tape, step: int):
        self.tape, self.step = tape, step

    def __add__(self, x) -> "_TapeLevel":
        return self.tape.then(self.step, x)

    def __sub__(self, x) -> "_TapeLevel":
        return self.tape.then(self.step, -x)


def _gc_block_forward(m: ModelSpec, model_type: str, seq: int, batch: int, P: HFPrecision,
                      impl: str) -> tuple[float, float]:
    """A checkpointed block's forward working set at its largest in the attention and in the MLP
    (what the block does not keep lives until the Python names holding it go); the autocast
    weight copies not yet made at either peak are ``_late_casts``.

    * attention: the norm's output, q/k after RoPE (in the stream dtype under autocast: the fp32
      cos/sin promote them, except where RoPE casts back), v, k/v expanded by ``repeat_kv`` where
      there are fewer k/v heads, under autocast sdpa's bf16 copies of q and k; then eager:
      the fp32 softmax and its input — the bf16 scaled scores and their fp32 copy
      (``softmax(dtype=float32)``) in pure bf16, the masked scores (promoted to fp32 by the fp32
      mask) under autocast, the scaled scores in fp32; sdpa: its output and fp32 log-sum-exp;
      family variants: MLA's projections and sdpa math path, Phi-3's fused qkv, OLMo 2's
      post-norm layout, gpt-oss's sink column, Llama 4's scores-dtype softmax;
    * MLP: the residual after the attention, the norm's output, the attention's returned eager
      probabilities, then the activation, up and their product (Phi-3: the fused gate_up output
      too); MoE: the router and the eager loop's previous and current expert; Llama 4: the
      dense expert bmm over the repeated input."""
    a, r = P.act, P.stream
    tok = seq * batch
    h, H = m.hidden, m.heads
    S = batch * H * seq * seq
    if model_type in LAYERNORM_FAMILIES:
        return _gc_layernorm_block_forward(m, model_type, seq, batch, P, impl)
    if m.mla is not None:
        dqk, dv, kvh = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim, m.mla.v_head_dim, m.heads
    else:
        dqk = dv = m.head_dim
        kvh = m.kv_heads
    qk = a if (not P.autocast or model_type in ROPE_CASTS_BACK) else r  # after RoPE
    if m.mla is not None:
        # MLA: q's projection (DeepSeek-V3: q_b's output), kv_a's output and its normed latent
        # (``self.weight * x.to(input_dtype)``: the stream dtype, fp32 weights under autocast),
        # the RoPE'd q/k parts and the concatenated q (``torch.cat((q_pass, q_rot))``: in q's
        # dtype after RoPE — DeepSeek-V3's fp32 cos/sin promote them under autocast), k
        # (``kv_nope.new_empty``: kv_b's dtype, models/deepseek_v3/modeling_deepseek_v3.py
        # l.421), kv_b's output; sdpa takes the math path (unequal q/v head dims): autocast's bf16
        # copy of an fp32 q, its scaled fp32 q (and fp32 copies of bf16 q/k/v), an fp32 (s, s)
        # mask, the fp32 scores and softmax
        q = m.mla
        lat = q.kv_lora_rank
        attn = r * h * tok + a * tok * (2 * H * dqk + (lat + q.qk_rope_head_dim) + H * (q.qk_nope_head_dim + dv))
        attn += r * tok * lat + qk * tok * (H * dqk + (H + 1) * q.qk_rope_head_dim)
        if _math(m, impl):
            attn += 4 * tok * H * (dqk if a == 4 else 3 * dqk + dv) + 4 * seq * seq + 2 * 4 * S
            if qk != a:
                attn += a * tok * H * dqk
        elif impl in ("fused", "fused_pad", "fused_mask"):  # a fused kernel: its output and fp32 lse (FA2/3: v and output padded
            # to d_qk, the output sliced into o_proj's contiguous copy)
            attn += a * tok * H * dv + 4 * tok * H + (a * tok * H * 2 * dqk if impl == "fused_pad" else 0)
        else:
            attn += (4 * S if P.autocast else a * S + (4 * S if a < 4 else 0)) + 4 * S
            if P.autocast and qk == a:
                # its complex RoPE casts back (``type_as``): q stays bf16, so the fp32 softmax's
                # ``.to(q's dtype)`` is a bf16 copy (DeepSeek-V3's fp32 cos/sin promote q)
                attn += a * S
    else:
        # (OLMo 2 normalises after the attention: its projections read the block input itself)
        attn = (0 if model_type == "olmo2" else r * h * tok) + tok * (qk * (H + kvh) * dqk + a * kvh * dv)
        if model_type == "phi3":  # q/k/v are slices of the fused qkv output, which stays whole
            attn += a * tok * (H + kvh) * dqk
        if kvh < H:
            attn += tok * H * (qk * dqk + a * dv)
        if P.autocast and qk != a and impl != "eager":
            attn += a * tok * 2 * H * dqk  # (eager's matmul drops its copies before the softmax)
        if impl == "eager" and model_type == "gpt_oss":
            # the masked scores (fp32 under autocast: the fp32 mask promotes them), the scores
            # with the sink column and their max-subtracted copy, the softmax over s+1 columns,
            # in that dtype; autocast casts the probabilities for the matmul with v
            x = r if P.autocast else a
            attn += x * S + 2 * x * S * (seq + 1) / seq + (a * S if P.autocast else 0)
        elif impl == "eager" and model_type == "llama4_text":
            # the softmax in the scores' dtype (the fp32 mask promotes them under autocast)
            attn += a * S + (r if P.autocast else a) * S
        elif impl == "eager":
            attn += (4 * S if P.autocast else a * S + (4 * S if a < 4 else 0)) + 4 * S
            if P.autocast and qk == a:  # .to(q's dtype) of the fp32 softmax: a bf16 copy (OLMo 2)
                attn += a * S
        else:
            attn += a * tok * H * dv + 4 * H * tok
    # the MLP: the residual after the attention and the norm's output; the attention's returned
    # probabilities (eager; in q's dtype), which the decoder layer's ``hidden_states, _ =``
    # keeps until it returns (gpt-oss's are a slice of its (s+1)-column softmax; gpt-oss and
    # Llama 4 keep the softmax in the scores' dtype, fp32 under autocast)
    if impl != "eager":
        probs = 0.0
    elif model_type == "gpt_oss":
        probs = (r if P.autocast else a) * S * (seq + 1) / seq
    elif model_type == "llama4_text":
        probs = (r if P.autocast else a) * S
    else:
        probs = qk * S
    mlp = 2 * r * h * tok + probs
    e = m.moe
    if e is not None and e.all_experts_compute:
        # Llama 4 (models/llama4/modeling_llama4.py): o_proj's output (the decoder layer's
        # ``attention_states``, l.423-431), the router's logits and scores in the matmul dtype
        # (``sigmoid(scores.float()).to(scores.dtype)``, l.147-150), the router-scaled repeated
        # input (``routed_in``, the stream dtype, l.168-169), and at the down bmm (l.79-81) the
        # gate/up output (``gate_up`` stays named), the product and the output; autocast's bf16
        # copy of ``routed_in`` is gone by then (held by nothing once gate/up's bmm returns)
        E, f = e.experts, m.ffn_hidden
        mlp += a * h * tok + 2 * a * E * tok + E * tok * (r * h + 3 * a * f + a * h)
    elif _grouped(m, P):
        # grouped_mm (integrations/moe.py ``grouped_mm_experts_forward``): the router's as the loop's, then every
        # routed row at once, in the weights' dtype d: the sort's and inverse permutation's int64 rows and the CPU /
        # CUDA histogram input, the sorted weights, and the largest of the gate (grouped input, gate/up output, the
        # activation and product), the down GEMM (input, product, output) and the weighting (input, down output,
        # the weighted rows and their gather back, in the product's dtype with the routing weight's)
        R = ROUTERS.get(model_type, Router())
        d, wb = _expert_dtype(P), (4 if R.weights == "fp32" else a)
        S, f = e.top_k * tok, m.ffn_hidden
        x = max(d, wb)
        mlp += 4 * e.experts * tok + 12 * e.top_k * tok + (28 + wb) * S
        mlp += S * max(d * (h + 4 * f), d * (2 * h + f), d * 2 * h + 2 * x * h)
    elif e is not None:
        # eager expert loop: router logits, top-k weights/indices, the one-hot expert mask, the
        # output accumulator; the previous expert's gathered input and gate/up output (the loop's
        # names) next to the current one's (k*T/E routed tokens each)
        # the busiest expert's tokens: the stated ``imbalance`` (busiest / mean load) where it
        # says more than the uniform-routing bound
        te = min(float(tok), max(busiest_expert_tokens(e.top_k, e.experts, tok), e.imbalance * e.top_k * tok / e.experts))
        mlp += 4 * e.experts * tok + 12 * e.top_k * tok + _expert_loop_frame(m, P, tok)
        mlp += 2 * te * (a * h + 2 * a * m.ffn_hidden) + 16 * te
    else:  # (Phi-3: gate and up are halves of the fused gate_up output)
        mlp += (4 if model_type == "phi3" else 3 if m.gated else 2) * a * m.dense_width * tok
    return attn, mlp


#: MoE blocks whose shared expert runs after the routed ones, so that its weights' autocast
#: copies are not made yet at the routed experts' peak: ``hidden_states + self.shared_experts(
#: residuals)`` after ``self.experts(...)`` (transformers 5.23 models/deepseek_v2/modeling_deepseek_v2.py
#: l.134-135, deepseek_v3/modeling_deepseek_v3.py l.220-221), ``out = self.shared_expert(hidden_states)``
#: after ``routed_out = self.experts(routed_in)`` (llama4/modeling_llama4.py l.170-171); Qwen2-MoE
#: runs its shared expert first (qwen2_moe/modeling_qwen2_moe.py l.342-344)
SHARED_EXPERT_AFTER = {"deepseek_v2", "deepseek_v3", "llama4_text"}


def _late_casts(m: ModelSpec, model_type: str, P: HFPrecision) -> tuple[float, float]:
    """Autocast's bf16 copies of the last block's weights not yet made (they are cached from
    the op that first reads the weight on) at the block's attention peak and at its MLP peak.

    * attention peak (the scores): the output projection's and the whole MLP's — dense: gate/up/
      down; MoE: the router's, the shared expert's and, where the experts are a dense bmm over the
      whole 3-D parameters (Llama 4: ``torch.bmm(hidden_states, self.gate_up_proj)``, a leaf,
      so its copy is cached), the experts'; the eager loop's ``gate_up_proj[expert_idx]`` slices
      are no leaves (not cached, not counted here);
    * MLP peak (dense: the product before down; MoE: the routed experts' last matmul): the
      shared expert's where it runs after the routed experts (``SHARED_EXPERT_AFTER``)."""
    from planner.spec.params import mlp_params

    if not P.autocast:
        return 0.0, 0.0
    o = m.heads * (m.mla.v_head_dim if m.mla is not None else m.head_dim) * m.hidden
    o += m.hidden if m.linear_bias else 0
    e = m.moe
    if e is None:
        return 2.0 * (o + mlp_params(m, m.dense_width)), 0.0
    sw = (e.shared_ffn_hidden or e.shared_experts * m.ffn_hidden) if e.shared_experts else 0
    shared = mlp_params(m, sw) if sw else 0
    routed = e.experts * mlp_params(m, m.ffn_hidden) if e.all_experts_compute else 0
    after = shared if model_type in SHARED_EXPERT_AFTER else 0
    return 2.0 * (o + m.hidden * e.experts + routed + shared), 2.0 * after

def _gc_layernorm_block_forward(m: ModelSpec, model_type: str, seq: int, batch: int, P: HFPrecision,
                                impl: str) -> tuple[float, float]:
    """``_gc_block_forward`` for GPT-2 and BERT, plus what lives before the blocks besides their
    inputs (returned in the attention's and MLP's working sets alike).

    * before the blocks: GPT-2's token and position embeddings (``GPT2Model.forward`` keeps both
      names to the end) and the embedding dropout's mask; BERT's embedding LayerNorm saves and
      dropout mask and its position-id buffer view (the ``outside`` rows);
    * attention: GPT-2's ln_1 output and c_attn output (q/k/v are views of it), BERT's q/k/v
      outputs; eager: three score matrices (the product, the scaled/masked copy and the softmax
      in the activation dtype; under autocast GPT-2's masked copy and softmax are fp32 and the
      bf16 product is gone — GPT-2; BERT's stay bf16); sdpa's math path (dropout): the fp32 scaled q (and fp32 copies of
      q/k/v when they are bf16), GPT-2's fp32 (s, s) causal mask, three fp32 score matrices; a fused kernel ("fused"):
      its output and fp32 log-sum-exp;
    * MLP: the returned attention probabilities (eager), the attention's dropped output, the
      residual sum and the norm's output, then the up projection's output and GPT-2's three
      tanh-GELU intermediates (BERT's exact GELU: one)."""
    a, r = P.act, P.stream
    tok = seq * batch
    h, H, f = m.hidden, m.heads, m.ffn_hidden
    S = batch * H * seq * seq
    bert = model_type == "bert"
    if bert:
        before = _bert_embedding_saves(m, P, r, tok)
        attn = 3 * a * h * tok
    else:
        before = r * h * tok + r * h * seq + P.mask_bytes(r) * h * tok  # wte, wpe outputs, dropout mask
        attn = r * h * tok + 3 * a * h * tok
    if impl == "eager":
        # (GPT-2's ``torch.where`` with an fp32 mask value promotes the scores under autocast;
        # CPU autocast leaves BERT's softmax in bf16)
        attn += 2 * 4 * S if P.autocast and not bert else 3 * a * S
        probs = a * S  # the returned probabilities (GPT-2: cast to v's dtype, ``.type(value.dtype)``)
    elif _ln_math(impl):
        attn += 4 * h * tok * (1 if a == 4 else 4) + (0 if bert else 4 * seq * seq) + 3 * 4 * S
        probs = 0.0
    else:  # a fused kernel: its output and fp32 log-sum-exp (no DynamicCache under checkpointing: k / v are views)
        attn += (a * h * tok + 4 * H * batch * _ln_lse_rows(P, seq)
                 + (a * S / H if impl == "fused_mask" else 0))  # (and its converted mask)
        probs = 0.0
    mlp = probs + 3 * r * h * tok + (2 if bert else 4) * a * f * tok
    return before + attn, before + mlp

def _block_backward(w: _Walk, m: ModelSpec, model_type: str, seq: int, batch: int, P: HFPrecision,
                    impl: str, checkpointing: bool, rows: tuple[float, float], moe: bool, gb: int,
                    gk: float | None = None, cw: float = 1.0, attn_bwd_extra: float = 0.0,
                    recompute_extra: float = 0.0, experts_wrapped: bool = False) -> None:
    """One block's backward (after its recompute under checkpointing) on the running total ``w``:
    op by op where the peak can fall (the derivative formulas of ``tools/autograd/derivatives.yaml``
    for the ops the modeling code calls), the rest as the net change — the block's saves (``rows``:
    attention part, MLP part, bytes per token) freed, its parameter gradients (``gb`` bytes each)
    made, autocast's bf16 weight copies freed.

    * recompute (non-reentrant ``torch.utils.checkpoint``, early stop after the last saved tensor):
      the block's saves again (autocast: its weight copies too); eager attention passes through
      its score matrices: q k^T scaled, the fp32 copy ``softmax(dtype=float32)`` makes of a bf16
      input, the fp32 softmax; what the recompute leaves until it stops (BERT's last LayerNorm
      output, GPT-2's MLP dropout output, Llama 4's expert output). Where the block's first op
      keeps its input as it is, the checkpoint's input is that same storage and outlives the
      block's backward (measured: the live count does not drop by it); else it goes with it;
    * OLMo 2/Gemma: each phase opens with the post-branch norm's backward (four fp32 h-wide
      intermediates at once);
    * MLP: the down projection (its input's gradient, f-wide, and its weight's; under autocast the
      bf16 copy of the incoming fp32 gradient, the bf16 weight gradient, then its fp32 copy, the
      weight's bf16 copy freed), then the gate*up product's two f-wide gradients (GPT-2's tanh
      GELU ends in such a product too; BERT's exact GELU: one), Phi-3's chunk ``cat`` after;
      Llama 4's bmm over all experts the same with E*T rows;
    * MoE: shared experts first (they are added after the routed ones); then the eager loop over
      fused 3-D expert weights (``gate_up_proj[e]``): each expert's weight gradient goes through
      ``select_backward`` (a zero-filled copy of the whole 3-D weight) and is summed out of place
      into the running one: three whole copies while the second expert's is added; each
      expert's saves (k*T/E routed tokens, uniform routing) go with its matmuls' backward just
      before, and the input's gradient (a zero-filled (T, h) per expert) is live;
    * eager attention: o_proj (its input's gradient and weight's), ``probs @ v`` (the
      probabilities' gradient per score, v's), the fp32 copy of that gradient (backward of
      ``.to(dtype)``), the softmax backward (fp32 per score); sdpa: o_proj, then the fused
      backward's q/k/v gradients at once, with ``attn_bwd_extra`` beside them (PyTorch's ``context_parallel`` ring:
      its all-gathered K/V, fp32 accumulators and rotated K/V gradients, freed as the kernel's backward ends,
      activations ``cp_torch_ring_transient``; a ring wraps only the fused SDPA kernels); GPT-2/BERT: the output dropout's gradient, then the
      score path with dropout on the probabilities in the scores' dtype (sdpa's math path: fp32).

    ``recompute_extra``: what the caller's block holds beside its saves at the recompute's last save and frees as it
    stops (peft's fp32 copy of the down projection's input: finetune ``adapter_cast_transient``; hfblk57b).
    ``experts_wrapped``: the routed experts are frozen 3-D weights peft adapts through ``ParamWrapper`` (peft
    tuners/lora/layer.py: the forward reads the materialised ``W + delta``, a tensor that is no leaf), so the whole
    3-D gradients the expert loop's ``select_backward`` zero-fills and sums (and grouped_mm's) are no parameter's:
    they live in the backward until the adapters' gradients are taken from them, and the plan's gradient term holds
    only the adapters'. They are counted with the tokens' bytes, not the weight-sized (lora58: tiny Mixtral LoRA
    all-linear over fp32, (1, 64), peak at the out-of-place sum: two fp32 (E, 2f, h) ``select_backward`` copies and
    the sum beside the (E, h, f) one, 917,504 B of the step's 1,426,032).
    """
    from planner.spec.params import attention_params, mlp_params, norm_params

    a, r, amp = P.act, P.stream, P.autocast
    tok = seq * batch
    h, H = m.hidden, m.heads
    if m.mla is not None:
        dqk, dv, kvh = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim, m.mla.v_head_dim, H
    else:
        dqk = dv = m.head_dim
        kvh = m.kv_heads
    S = batch * H * seq * seq if impl == "eager" else 0.0  # score elements
    A, M = rows[0] * tok, rows[1] * tok
    ln = norm_params(m)
    n_attn_norms = m.layer_norms // 2
    attn_w = attention_params(m)
    e = m.moe
    if moe:
        E, k, f = e.experts, e.top_k, m.ffn_hidden
        sw = (e.shared_ffn_hidden or e.shared_experts * f) if e.shared_experts else 0
        mlp_w = h * E + E * mlp_params(m, f) + (mlp_params(m, sw) if sw else 0)
    else:
        f = m.dense_width
        mlp_w = mlp_params(m, f)
    gated = m.gated
    gk = gb if gk is None else gk  # the gradients that stay after the phase (``keep_grads``)
    g_attn = gk * (attn_w + ln * n_attn_norms)
    g_mlp = gk * (mlp_w + ln * (m.layer_norms - n_attn_norms))
    grouped = moe and _grouped(m, P)
    ws_g = 0.0 if experts_wrapped else 1.0  # the routed experts' gradients: weight-sized, or the tokens' (above)
    # (grouped_mm casts no routed expert weight: its input goes to the weights' dtype instead)
    cast_w = mlp_w - (E * mlp_params(m, f) if grouped else 0)
    c_attn = cw * 2.0 * attn_w if amp and not checkpointing else 0.0  # AMP weight copies (in ``after``)
    c_mlp = cw * 2.0 * cast_w if amp and not checkpointing else 0.0

    def wgrad(n: float) -> float:  # a weight's gradient as the matmul makes it
        return 2 * n if amp else gb * n

    def wcast(n: float) -> None:
        """Autocast: the bf16 weight gradient copied into the fp32 .grad; the bf16 gradient and
        the weight's bf16 copy (saved by the matmul alone) go."""
        if amp:
            w.op(4 * n, 2 * n + cw * 2 * n, 4 * n, 2 * n + cw * 2 * n)

    # Llama 4: the gradient of the experts' (E, T, h) output, expanded from the sum over experts
    # and made contiguous, comes first (its node keeps nothing, so it runs before the recompute),
    # in the bmm output's dtype; under autocast the MoE's output is bf16 (``out.add_(routed_out
    # ...)`` on the shared expert's bf16 output, models/llama4/modeling_llama4.py l.171-172) on an
    # fp32 residual stream: the residual add's backward first hands it a bf16 copy of the incoming
    # gradient, which lives through the recompute
    l4moe = moe and e.all_experts_compute
    eg = a * E * tok * h if l4moe else 0.0
    g_in = a * h * tok if l4moe and amp else 0.0
    w.level += eg + g_in
    # a dense block's MLP output reaches the fp32 stream in autocast's bf16: the residual add's backward hands it a
    # bf16 copy of the incoming gradient (the engine casts a gradient to its input's dtype: torch/csrc/autograd/
    # engine.cpp ``validate_outputs``) before any node unpacks a save, so it lives through the recompute (lora58:
    # the live set at the tiny Llama's recompute stop); BERT's post-LN block runs its LayerNorm's backward first
    g_res = a * h * tok if checkpointing and amp and r != a and not moe and model_type != "bert" else 0.0
    w.level += g_res
    g_comb = _grouped_combine_grad(m, model_type, P, tok) if checkpointing and moe and _grouped(m, P) else 0.0
    w.level += g_comb
    keeps_input = False
    if checkpointing:
        # the recompute: the block input is the checkpoint's (already live) where the first
        # norm keeps it as it is (fp32 stream)
        # (GPT-2's ln_1 and BERT's q/k/v keep the block input itself whatever the dtype, but
        # BERT's linears keep bf16 copies under autocast)
        if model_type in LAYERNORM_FAMILIES:
            keeps_input = not (model_type == "bert" and amp)
        else:
            keeps_input = r == 4 and not (model_type == "olmo2" and amp)
        A_rc = A - (r * h * tok if keeps_input else 0)
        if impl == "eager" and model_type not in LAYERNORM_FAMILIES:  # (their scores are all kept)
            if model_type == "gpt_oss":  # as in _gc_block_forward: s+1 columns, scores' dtype
                x = r if amp else a
                soft = x * S * (seq + 1) / seq + (a * S if amp else 0)
                peak_scores = x * S + 2 * x * S * (seq + 1) / seq + (a * S if amp else 0)
            else:
                soft = 4 * S + (a * S if a < 4 else 0)  # the softmax's saves
                peak_scores = a * S + (4 * S if a < 4 else 0) + 4 * S
            # besides the saves made so far, the names the attention holds at its scores that
            # nothing saved (``eager_attention_forward`` in models/llama/modeling_llama.py and
            # its copies): repeat_kv's unexpanded k and v; under autocast also the input norm's
            # output, q and the expanded k after RoPE where they are fp32 (the matmuls saved their
            # bf16 copies), and the q/k/v weights' cached copies; o_proj's input is not made yet
            named = qkv_casts = 0.0  # (qkv_casts: the part of it that is weight-sized)
            if m.mla is None:
                qk = a if (not amp or model_type in ROPE_CASTS_BACK) else r
                if kvh < H:
                    named += tok * kvh * (qk * dqk + a * dv)
                if amp:
                    qkv_casts = cw * 2.0 * (attn_w - H * dv * h)
                    named += (0 if model_type == "olmo2" else r * h * tok) + qkv_casts
                    if qk != a:
                        named += qk * tok * 2 * H * dqk
                named -= a * H * dv * tok
            w.op(A_rc - soft + peak_scores + named, A_rc - soft + peak_scores + named, qkv_casts, qkv_casts)
        # what the recompute leaves besides the saves until it stops: BERT's last LayerNorm
        # output and the dropout's output before it, GPT-2's MLP dropout output, the decoders'
        # residual sum after the attention (kept by the MLP norm itself in an fp32 stream)
        if model_type == "bert":
            tail = (r + a) * h * tok
        elif model_type == "gpt2":
            tail = a * h * tok
        else:
            tail = 0.0
        if r < 4 and model_type not in LAYERNORM_FAMILIES and model_type != "olmo2":
            # pure bf16: the MLP norm saves its fp32 upcast (``hidden_states.to(torch.float32)``),
            # so the residual sum after the attention, named ``residual`` by the decoder layer
            # until it returns, is a storage of its own (OLMo 2's MLP reads it as it is)
            tail += r * h * tok
        if moe and not e.all_experts_compute and not grouped:
            tail += _expert_loop_frame(m, P, tok)  # the recompute stops inside the last expert
        elif grouped:
            # grouped_mm's recompute stops at its last save, the inverse permutation, with the weighted rows (the
            # product's dtype with the routing weight's) and the sorted expert ids and CPU histogram input named
            R = ROUTERS.get(model_type, Router())
            tail += max(_expert_dtype(P), 4 if R.weights == "fp32" else a) * k * tok * h + 12 * k * tok
        if model_type == "llama4_text":
            # the decoder layer's ``attention_states`` (o_proj's output) stays named through the
            # MLP (models/llama4/modeling_llama4.py l.423-431)
            tail += a * h * tok
        if l4moe:
            # Llama 4's MoE frame (l.165-172): ``routed_out``, the dense expert bmm's (E, T, h)
            # output; under autocast also ``routed_in`` (the fp32 router-scaled repeat: the bmm
            # saved only its bf16 copy) and the fp32 input ``hidden_states`` (router and shared
            # expert saved their own bf16 copies); without autocast those two are saved as they are
            tail += a * e.experts * tok * h + ((r * e.experts * tok * h + r * h * tok) if amp else 0.0)
        recast = cw * 2.0 * (attn_w + cast_w) if amp else 0.0  # the block's weight copies, made again
        w.op(A_rc + M + recast + tail + recompute_extra, tail + recompute_extra, recast)
        c_attn, c_mlp = (cw * 2.0 * attn_w, cw * 2.0 * cast_w) if amp else (0.0, 0.0)

    # OLMo 2 and Gemma normalise each branch's output: its backward (fp32 intermediates h-wide,
    # ``Olmo2RMSNorm``/``Gemma2RMSNorm`` upcast; four live at once) opens each phase and frees
    # that norm's saves
    post = model_type in ("olmo2", "gemma2", "gemma3_text")
    post_norm = 4 * 4 * h * tok if post else 0.0
    post_saves = _norm(h, r, NORM_STYLE.get(model_type, "cast")) * tok if post else 0.0
    start, ws_start = w.level, w.wsized
    w.op(post_norm, post_norm + post_saves)
    if grouped:
        # grouped_mm's backward (autograd of integrations/moe.py ``grouped_mm_experts_forward``), all S routed rows
        # at once, in the weights' dtype d: the weighted rows' gradient scattered back through the inverse
        # permutation (the product's dtype x with the routing weight's), the multiply's gradients (the down output's,
        # and the routing weight's by way of an (S, h) product); the down GEMM's input gradient and its whole 3-D
        # weight gradient (in the weights' dtype: no cast under autocast); the activation's and product's
        # gradients and their concatenation into gate/up's; the gate/up GEMM's input and weight gradients; the
        # gather's scatter-add into the block's (T, h) input gradient
        R = ROUTERS.get(model_type, Router())
        d, wb = _expert_dtype(P), (4 if R.weights == "fp32" else a)
        x = max(d, wb)
        # the routed rows, named apart from ``S`` (the score elements the attention phase below reads): until
        # lora58d this branch reassigned ``S``, so an eager attention after a grouped_mm block priced its (b, H, s, s)
        # fp32 softmax backward at k x T elements (tiny Qwen3-MoE pure bf16 (2, 128): step peak -9.7 %)
        Sk = k * tok
        D = gb * E * h * f
        G = gb * E * (2 if gated else 1) * h * f
        if sw:  # shared experts (added after the routed ones: their backward comes first)
            w.op(a * sw * tok + gb * mlp_params(m, sw), 4 * a * sw * tok + a * sw * tok, gb * mlp_params(m, sw))
        # the index's zero-filled gradient beside the sum's expanded one made contiguous (already live under
        # checkpointing, ``g_comb``: made before the recompute), which it frees
        w.op((1 if g_comb else 2) * x * Sk * h, x * Sk * h)
        # the multiply's two gradients are both made in the product's dtype x (derivatives.yaml ``mul.Tensor``:
        # ``mul_tensor_backward(grad, other, ...)``, the promoted dtype); the engine then reduces the routing weight's
        # to (Sk, 1) and casts the down output's to d (torch/csrc/autograd/engine.cpp ``validate_outputs``): lora58c
        # measured the three x-wide (Sk, h) at the multiply (tiny Mixtral grouped_mm over a bf16 base, (2, 128))
        w.op(2 * x * Sk * h, x * Sk * h)
        w.op(d * Sk * h, x * Sk * h + x * Sk * h + d * Sk * h + wb * Sk)
        w.op(d * Sk * f + D, d * Sk * h + d * Sk * f, ws_g * D)
        w.op(2 * d * Sk * f, 2 * d * Sk * f)  # the product's two gradients; its incoming one and the act's save go
        w.op(d * Sk * f, 3 * d * Sk * f)  # the activation's; gate/up's output goes
        w.op(2 * d * Sk * f, 2 * d * Sk * f)  # their concatenation
        w.op(d * Sk * h + G, d * Sk * 2 * f + d * Sk * h, ws_g * G)
        w.op(r * h * tok, d * Sk * h)
    elif moe and not e.all_experts_compute:
        R = ROUTERS.get(model_type, Router())
        te = k * tok / E
        per_expert = te * _routed_token_bytes(P, R, h, f)
        # what an expert's down half frees before its down weight's select_backward: the
        # weighted output, its weight, the expert output, the down matmul's input (and, under
        # autocast, the bf16 copy of the down slice: no leaf, not cached); the rest goes with
        # the activation and gate/up before gate/up's select_backward
        eb = r if (R.bias and amp) else a
        wb = 4 if R.weights == "fp32" else a
        # (of which weight-sized: the slices' copies, in ``after``'s casts where ``weight_casts``; none where the
        # weights reach autocast in bf16, ``cw`` 0: no cast, so nothing to free -- until mem45 freed all the same)
        down_cast, rest_cast = (cw * 2.0 * h * f, cw * 2.0 * (mlp_params(m, f) - h * f)) if amp else (0.0, 0.0)
        down_half = te * (r * h + wb + eb * h + a * f) + down_cast
        rest = per_expert + down_cast + rest_cast - down_half
        D = gb * E * h * f
        G = gb * E * (2 if gated else 1) * h * f
        dx = a * h * tok  # the input's gradient per expert (zero-filled (T, h))
        if sw:  # shared experts (added after the routed ones: their backward comes first)
            w.op(a * sw * tok + gb * mlp_params(m, sw), 4 * a * sw * tok + a * sw * tok, gb * mlp_params(m, sw))
        # (each matmul's backward frees its saves before the select_backward after it)
        w.op(0.0, down_half, 0.0, down_cast)
        # (the zero-filled copies and their sums are the 3-D weights' gradients)
        w.op(D + dx, 0.0, ws_g * D)        # the last expert: down's select_backward
        w.op(0.0, rest, 0.0, rest_cast)
        w.op(G, 0.0, ws_g * G)             # ... gate/up's
        w.op(0.0, down_half, 0.0, down_cast)
        w.op(2 * D, 2 * D, ws_g * 2 * D, ws_g * 2 * D)   # the next: select_backward + out-of-place sum (down)
        w.op(0.0, rest, 0.0, rest_cast)
        w.op(2 * G + dx, 2 * G + dx, ws_g * 2 * G, ws_g * 2 * G)  # ... and gate/up
    elif moe:  # Llama 4: one bmm over every expert, each on all T tokens (3-D weight gradients)
        fe = E * f * tok
        w.op(a * fe + wgrad(E * f * h), a * fe + eg, wgrad(E * f * h))
        wcast(E * f * h)
        w.op(2 * a * fe)
    else:  # a dense MLP: the down projection's backward, gated or not, then the activation's
        if amp:
            w.op(0.0 if g_res else a * h * tok)
        w.op(a * f * tok + wgrad(h * f), a * f * tok + (a * h * tok if amp else 0), wgrad(h * f))
        wcast(h * f)
        if gated:
            # (frees the down projection's input gradient and the activation's output)
            w.op(2 * a * f * tok, 2 * a * f * tok)
            if model_type == "phi3":  # fused gate_up: the activation's gradient, then chunk's cat
                w.op(a * f * tok, a * f * tok)
                w.op(2 * a * f * tok)
        else:
            # GPT-2's tanh GELU ends in a product of two f-wide tensors; BERT's exact GELU is one op
            w.op((1 if model_type == "bert" else 2) * a * f * tok)
    w.level = start + g_mlp - M - c_mlp - eg - g_in - g_res - g_comb
    w.wsized = ws_start + g_mlp - c_mlp

    start, ws_start = w.level, w.wsized
    w.op(post_norm, post_norm + post_saves)
    if amp:
        w.op(a * h * tok)
    o_in = a * H * dv * tok
    if model_type in LAYERNORM_FAMILIES:
        # GPT-2/BERT: the output dropout's gradient, the output projection; then the score path
        # with dropout on the probabilities, in the scores' dtype x (sdpa's math path: fp32):
        # probs @ v (the dropped probabilities' gradient, v's), the dropout's, the softmax's
        # (a fused kernel, "fused": its output is the projection's input, kept for the kernel's backward, which
        # then writes the q, k, v gradients at once)
        fused = _sdpa(impl) and not _ln_math(impl)
        x = 4 if _sdpa(impl) or (amp and model_type == "gpt2") else a
        Sx = batch * H * seq * seq * x
        w.op(a * h * tok)
        w.op(o_in + wgrad(H * dv * h), (0 if fused else o_in) + a * h * tok + (a * h * tok if amp else 0),
             wgrad(H * dv * h))
        wcast(H * dv * h)
        if fused:
            w.op(3 * a * h * tok, 0)
        else:
            w.op(Sx + x * h * tok, o_in + x * h * tok + Sx)  # frees v, the dropped probabilities
            w.op(Sx, Sx + P.mask_bytes(x) * Sx / x)  # frees the incoming gradient and the dropout's mask
            w.op(Sx, 2 * Sx)  # ... and the softmax's output
    else:
        w.op(o_in + wgrad(H * dv * h), (o_in if impl == "eager" else 0) + (a * h * tok if amp else 0),
             wgrad(H * dv * h))
        wcast(H * dv * h)
        if impl == "eager" and model_type == "gpt_oss":
            # softmax over s+1 columns (the sink) in the scores' dtype x: probs @ v, the bf16
            # copy's cast back (autocast), the slice's zero-padded gradient, the softmax's
            x = r if amp else a
            S1 = S * (seq + 1) / seq
            w.op(a * S + o_in, 2 * o_in + (a * S if amp else 0))
            if amp:
                w.op(x * S, a * S)
            w.op(x * S1, x * S)
            w.op(x * S1, 2 * x * S1)
        elif impl == "eager":
            w.op(a * S + o_in, 2 * o_in + (a * S if a < 4 else 0))  # probs @ v
            if a < 4:
                w.op(4 * S, a * S)
            w.op(4 * S, 8 * S)
        elif _math(m, impl):  # sdpa's math path (MLA): the same score path, all fp32
            Sm = batch * H * seq * seq
            w.op(4 * Sm + 4 * H * dv * tok, 2 * o_in)
            w.op(4 * Sm, 8 * Sm)
        else:
            vw = dqk if impl == "fused_pad" else dv  # FA2/3 on MLA: the padded v's gradient
            w.op(a * tok * (H * dqk + kvh * dqk + kvh * vw) + attn_bwd_extra, attn_bwd_extra)
    w.level = start + g_attn - A - c_attn
    w.wsized = ws_start + g_attn - c_attn
    if checkpointing and not keeps_input:
        # the checkpoint's input: where the block's first op kept it as it is, the recompute's
        # saved copy of it is the same storage and outlives the block's backward (measured)
        w.level -= r * h * tok


#: families this table knows (the keys of transformers' ``model_type`` it was measured on)
def _sdpa(impl: str) -> bool:
    """Whether ``impl`` saves as a kernel that returns (output, log-sum-exp): "sdpa" (torch's dispatch as the CPU
    recordings ran it) or "fused" (``hf_attn_impl``: a fused kernel whatever the head dims); "math_mask" is the
    CPU's "sdpa" on MLA (the math path, ``_math``) with a padding mask."""
    return impl in ("sdpa", "fused", "fused_pad", "fused_mask", "math_mask")


#: the keys whose rows carry a padding mask, materialised per batch row and handed to every layer (``hf_attn_impl``):
#: under checkpointing every checkpoint holds it (``_kind_inputs``), whichever kernel then reads it
PADDING_MASK_KEYS = ("fused_mask", "math_mask")


def _padding_mask(impl: str) -> bool:
    """Whether ``impl``'s rows carry a padding mask (``PADDING_MASK_KEYS``)."""
    return impl in PADDING_MASK_KEYS


def _math(m: ModelSpec, impl: str) -> bool:
    """Whether the attention takes sdpa's decomposed math path: MLA's unequal q / v head dims under "sdpa" on the CPU
    (the CPU flash kernel needs one head dim; there is no CPU mem-efficient kernel), with a padding mask or not
    ("math_mask": the mask is added to the scores, which saves neither operand; recorded, padfam50)."""
    return impl in ("sdpa", "math_mask") and m.mla is not None


def hf_attn_impl(m: ModelSpec, flash: bool, choice: str | None = None, device: str = "cuda",
                 padded: bool = False) -> str:
    """The saved-tensor key (``saved_rows``' ``impl``) of the attention the HF code trains ``m`` with on ``device``.
    ``choice`` is transformers' ``attn_implementation`` (planner.model.stack_kernels ``hf_attn_choice``); None: sdpa where
    ``training.flash_attention`` asks for a fused kernel, else eager; a model with attention sinks (gpt-oss) always
    eager (``_supports_sdpa = False``; flash_attention_2 drops the sinks: planner.model.stacks
    ``eager_sink_attention``, the time's rule). Any non-eager choice on CUDA is a fused kernel saving q, k, v, its
    output and an fp32 log-sum-exp: torch's sdpa (aten/src/ATen/native/transformers/cuda/sdp_utils.cpp) takes flash
    for equal head dims and, for MLA's 192 / 128 q / v dims, the mem-efficient kernel
    (``check_head_dim_size_mem_efficient`` needs only q = k and 8-aligned dims), never the math path a bf16
    training run would otherwise reach; flash_attention_2/3 and flex_attention are fused by construction, FA2/3 on
    MLA ("fused_pad") with v zero-padded to the q/k head dim and the output sliced back (models/deepseek_v2/
    modeling_deepseek_v2.py ``F.pad(value_states, [0, self.qk_head_dim - self.v_head_dim])`` where
    ``is_flash_attention_requested``; layer_ops ``fa_padded_v``). GPT-2 and BERT (``LAYERNORM_FAMILIES``, attention
    dropout 0.1) on CUDA: flash too, the dropout inside the kernel (``can_use_flash_attention`` has no dropout check;
    cuDNN, first on sm90 / sm100 where ``check_prefer_cudnn_attention``, refuses a dropout that is not a multiple of
    1/16 in ``check_cudnn_dropout``; an fp32 model's q takes the mem-efficient kernel, which saves the same set),
    sdpa49; ``padded`` rows (``hf_padded``) make transformers pass sdpa a (b, 1, s, s) mask, which flash refuses
    (``check_for_attn_mask``), so with the dropout ruling out cuDNN they run the mem-efficient kernel, which keeps
    the mask ("fused_mask", ``_ln_fused_attention``). The RMSNorm decoders' ``padded`` rows (padmask49): masking_utils
    ``sdpa_mask`` hands every layer a boolean (b, 1, s, s) mask (None without padding: ``is_causal``), so
    integrations/sdpa_attention.py ``use_gqa_in_sdpa`` (CUDA: ``attention_mask is None``) expands k / v by
    ``repeat_kv``, and the kernel -- mem-efficient or cuDNN on CUDA, the CPU flash kernel -- keeps the mask converted
    to q's dtype (attention.cpp ``convert_boolean_attn_mask``) as a sliding-window layer does ("fused_mask": every
    layer ``masked`` in ``saved_rows``; recorded, tests/data/hf_activations.json ``padmask``); eager's additive mask
    is added to the scores, not saved (recorded: no byte more); padfam50 recorded the same on Gemma 2 (eager only) / 3,
    OLMo 2, Mixtral, Qwen3-MoE and DeepSeek-V3 (``padfam``). MLA's CPU math path with padding ("math_mask") saves as
    "sdpa" but its checkpoints hold the per-row mask (``PADDING_MASK_KEYS``). Only the
    CPU (``device="cpu"``: the recordings, tests/data/hf_activations.json) sends MLA, and GPT-2 / BERT with their
    attention dropout (sdp_utils_cpp.cpp ``check_for_dropout``: ``_ln_math``), to the math path."""
    if choice is None:
        choice = "sdpa" if flash and not m.attention_sinks else "eager"
    if choice == "eager":
        return "eager"
    if m.mla is not None and choice in ("flash_attention_2", "flash_attention_3"):
        return "fused_pad"
    layernorm = hf_model_type(m) in LAYERNORM_FAMILIES
    math_cpu = device == "cpu" and (layernorm or m.mla is not None)  # (the CPU's math paths: ``_math``, ``_ln_math``)
    if padded and choice == "sdpa" and not math_cpu:
        return "fused_mask"
    if padded and choice == "sdpa" and m.mla is not None and device == "cpu":
        return "math_mask"
    if device == "cpu" or not (layernorm or m.mla is not None):
        return "sdpa"
    return "fused"


def hf_padded(t) -> bool:
    """Whether a job's rows (``training``, a TrainingSpec) carry padding that the HF code masks: ``packing`` "padded"
    (one example a row, padded to seq_len) with a mean example shorter than seq_len, so that a batch holds padding
    and transformers' mask is materialised (masking_utils ``sdpa_mask`` skips it only where it masks nothing)."""
    return t.packing == "padded" and bool(t.mean_example_tokens) and t.mean_example_tokens < t.seq_len


HF_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "mixtral", "deepseek_v3", "deepseek_v2",
               "llama4_text", "gemma2", "gemma3_text", "gpt_oss", "olmo2", "phi3", "gpt2", "bert")

#: which HF family a spec's quirks belong to when its name does not say (first match wins); the
#: rest is the Llama/Qwen/Mistral code path, which the structure alone describes
_STRUCTURE = (
    (lambda m: m.family == "encoder" or m.mlm_head, "bert"),
    (lambda m: m.position == "learned", "gpt2"),
    (lambda m: m.mla is not None and m.moe is not None and m.moe.norm_topk_prob, "deepseek_v3"),
    (lambda m: m.mla is not None, "deepseek_v2"),
    (lambda m: m.attention_sinks, "gpt_oss"),
    (lambda m: m.layer_norms == 4 and m.qk_norm == "head", "gemma3_text"),
    (lambda m: m.layer_norms == 4, "gemma2"),
    (lambda m: m.qk_norm == "full", "olmo2"),
    (lambda m: m.moe is not None and m.moe.all_experts_compute, "llama4_text"),
    (lambda m: m.moe is not None and m.moe.shared_experts == 0 and m.moe.norm_topk_prob is False, "mixtral"),
    (lambda m: m.moe is not None, "qwen3_moe"),
)


def hf_model_type(m: ModelSpec) -> str:
    """The transformers ``model_type`` whose code this spec runs under an HF stack: its name when
    that is one (HF config.json specs are named by it; presets by ``<family>-<size>``), else read
    off the structure (``_STRUCTURE``); "llama" for the plain decoder."""
    key = (m.name or "").lower().replace("-", "_")
    for fam in sorted(HF_FAMILIES, key=len, reverse=True):  # "qwen3_moe" before "qwen3"
        if key == fam or key.startswith(fam.replace("_text", "")):
            return fam
    for test, fam in _STRUCTURE:
        if test(m):
            return fam
    return "llama"


def spec_model_type(m: ModelSpec) -> str:
    """The transformers ``model_type`` a spec is: the one it states (``ModelSpec.hf_model_type``, an HF config.json's
    own) or else :func:`hf_model_type`'s reading of its name and structure."""
    return m.hf_model_type or hf_model_type(m)


@dataclass(frozen=True)
class HFActivations:
    """What a plan needs per micro-batch from the HF table (bytes): ``per_layer``, the average
    block's saves (checkpointing: its call arguments) plus the DynamicCache share; ``outside``:
    the saves outside the blocks (ids, embedding, final norm, head, loss log-softmax);
    ``logits_transient``: the logits and the loss's vocab-wide transients at the step's peak;
    ``recompute``: the peak of a checkpointed block's recompute and backward (``hf_block_rebuild``: its saves
    rebuilt and the gradients in flight; hfblk57), 0 without checkpointing; ``head_weight``: the weight-sized part of
    ``outside`` + ``logits_transient`` (Liger's saved head-weight gradient, a frozen head's uncached autocast cast:
    ``FusedCEBytes.saved_weight`` / ``transient_weight``), which a rank holds at its share of the weights and not
    over cp (``hf_rank_peak``'s rule; memory_activations ``_hf_activation_arrays``); 0 for the eager loss.
    ``head_held``: what the head and loss still hold when the last block is rebuilt, their own saves and transients
    freed by then (``hf_head_held``; memory_activations ``loss_beside_rebuild`` takes the larger of the two, hfpeak56)."""
    per_layer: float
    outside: float
    logits_transient: float
    recompute: float
    head_weight: float = 0.0
    head_held: float = 0.0


def hf_activations(m: ModelSpec, seq: int, batch: int, precision: str, impl: str,
                   checkpointing: bool, model_type: str | None = None, fused_ce: bool = False,
                   head_trains: bool = True, output_held: bool = True, head_seq=None,
                   experts: str = "eager") -> HFActivations:
    """The HF table cut the way ``planner.model.memory`` adds up a rank's activations. ``fused_ce``:
    the loss is Liger's fused linear cross-entropy (``fused_ce_bytes``; ``head_trains`` False: a
    frozen head, LoRA's, makes no weight gradient). ``output_held``: as ``hf_step_memory``'s (False: the
    Trainer's loop; the logits then count only at the loss's forward, ``HFStepMemory.vocab``; the DynamicCache
    stays in ``per_layer``, alive at the forward's end)."""
    mt = model_type or hf_model_type(m)
    blocks, outside = hf_saved_parts(m, mt, seq, batch, precision, impl, checkpointing, head_seq, experts)
    st = hf_step_memory(m, mt, seq, batch, precision, impl, checkpointing, output_held=output_held, head_seq=head_seq,
                        experts=experts)
    rc = _hf_recompute(m, mt, seq, batch, precision, impl, checkpointing, experts)
    if fused_ce and mt not in LAYERNORM_FAMILIES:  # (Liger returns no logits: none held)
        fc = fused_ce_bytes(m, mt, seq, batch, precision, head_trains)
        return HFActivations((blocks + st.kv_cache) / m.layers, outside - fc.eager_saved + fc.saved, fc.transient,
                             rc, fc.saved_weight + fc.transient_weight, hf_head_held(m, mt, seq, batch, precision, 0.0))
    return HFActivations((blocks + st.kv_cache) / m.layers, outside, st.vocab, rc,
                         head_held=hf_head_held(m, mt, seq, batch, precision, st.logits if output_held else 0.0))


def hf_head_held(m: ModelSpec, mt: str, seq: int, batch: int, precision: str, logits: float) -> float:
    """What the head and loss still hold when the last checkpointed block is rebuilt (``HFActivations.head_held``):
    the causal LMs' shifted labels (int64; BERT's are the input's), the gradient the head hands the final norm and
    it the residual stream (the stream's dtype), and the ``logits`` the loop keeps through ``backward`` where it
    does (``output_held``). The loss's and the head's saves and transients are freed by then: autograd drops a
    node's saved tensors as it runs (torch/csrc/autograd/engine.cpp ``call_function``), and the loss's and head's
    nodes all run before the gradient reaches the last block, whose rebuild starts there (torch.utils.checkpoint;
    losspeak38's measurement). The walked step holds the same at that point (``hf_step_walk``'s level after the
    head: ``labels`` + ``r h tok``)."""
    tok = seq * batch
    labels = 0 if mt == "bert" else 8 * (tok + 1)
    return labels + hf_precision(precision).stream * m.hidden * tok + logits


def _hf_recompute(m: ModelSpec, mt: str, seq: int, batch: int, precision: str, impl: str, checkpointing: bool,
                  experts: str = "eager") -> float:
    """``HFActivations.recompute``: the peak of a checkpointed block's backward above what was alive when the gradient
    reached it (``hf_block_rebuild``); 0 without checkpointing."""
    return hf_block_rebuild(m, mt, seq, batch, precision, impl, experts) if checkpointing else 0.0


def hf_block_rebuild(m: ModelSpec, mt: str, seq: int, batch: int, precision: str, impl: str,
                     experts: str = "eager", dense_recompute_extra: float = 0.0, experts_wrapped: bool = False) -> float:
    """The most a checkpointed block's recompute and backward add to the live tokens' bytes, as the walked step
    measures it (``_block_backward`` from a zero level, no gradient kept, the largest over the blocks' kinds): its
    saves rebuilt plus the activation gradients and transients in flight at the block's own peak (the eager
    probabilities' gradient and its fp32 softmax backward, the MLP's f-wide gradients), less the moment's
    weight-sized bytes (weight gradients, autocast's weight copies: the plan's gradient and weight terms). The
    table path's rebuild term (hfblk57); until then a block's whole saves plus the eager probabilities' gradient,
    which missed the gradients in flight: measured on tiny transformers 5.23 models (tests/data/hfblk57_truth.json,
    tests/make_hfblk57_truth.py: the backward's phase of the last block, live bytes less the accumulated parameter
    gradients) the old term was -30..+3 % of the block's phase, this one equal to the byte under pure bf16.
    ``dense_recompute_extra``: a dense block's bytes beside its saves at the recompute's end (``_block_backward``'s
    ``recompute_extra``; a frozen base's adapters, hfblk57b); ``experts_wrapped``: the MoE blocks' routed experts
    adapted through peft's ``ParamWrapper`` (``_block_backward``'s; lora58)."""
    P = hf_precision(precision, experts)
    _, _, rows = saved_rows(m, mt, seq, batch, precision, impl, False, None, experts)
    moe_ids = set(m.moe_layer_ids) if m.moe_layers else set()
    peaks: dict = {}
    for i in range(m.layers):
        key = (id(rows[i]), i in moe_ids)  # one walk per row object and kind (``_blocks_backward``'s rule)
        if key not in peaks:
            w = _Walk(0.0)
            _block_backward(w, m, mt, seq, batch, P, impl, True, rows[i], i in moe_ids, P.param, 0.0,
                            recompute_extra=0.0 if i in moe_ids else dense_recompute_extra,
                            experts_wrapped=experts_wrapped)
            level, _, wsized = np.asarray(w.moments, dtype=np.float64).T
            peaks[key] = float(np.max(level - wsized))
    return max(peaks.values())
