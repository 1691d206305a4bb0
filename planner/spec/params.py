"""Parameter counts, exact against the Hugging Face modelling code.

It sits with the spec, not with the time and memory formulas of ``planner.model``, because it is a
property of the model specification alone (nanoGPT's ``get_num_params``) and the loader needs it
for the compute-optimal token default.

The count is built from the same pieces a model's ``named_parameters()`` lists, so that a test can
check it to the last parameter (tests/test_params.py against tests/data/hf_params.json, produced by
tests/make_hf_params.py from ``transformers`` models built on the meta device).

Pieces of one transformer layer (h = hidden, q = heads*head_dim, kv = kv_heads*head_dim, f = ffn; the
matrices' shapes are planner.spec.shapes', which the FLOPs and the rest read too):

* attention: Wq h*q, Wk h*kv, Wv h*kv, Wo q*h; biases q+2kv (qkv_bias) and h (linear_bias);
* dense MLP: gated (SwiGLU/GeGLU) 3*h*f, plain 2*h*f; biases f+h (linear_bias);
* MoE MLP: router h*E (none under a weightless gate, ``router_params``), E experts of the MLP above, shared experts
  and their gate (Qwen2-MoE);
* two norms per layer: RMSNorm h each, LayerNorm 2h each (weight and bias).

Hybrid models (``hybrid_pattern``: Nemotron-H, Nemotron 3, Jamba-like, Mamba-2): each layer is one
norm and one mixer — attention, dense MLP, MoE block, or the Mamba-2 mixer (``mamba_params``).

Outside the layers: token embedding V*h, learned positions P*h, token types T*h, an embedding norm
(encoders), a final norm (decoders), the LM head V*h unless tied, and BERT's MLM head
(dense h*h+h, norm, decoder bias V).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from planner.spec.schema import ModelSpec
from planner.spec.shapes import attention_weights, latent_weights, macs, mamba_weights, mlp_weights, shared_expert_width


#: the field types a spec's fingerprint takes as they are (hashable, immutable)
_PLAIN = frozenset({int, float, str, bool, type(None)})


def spec_key(x) -> tuple:
    """A hashable fingerprint of a spec (``ModelSpec`` and its nested specs): its class, every field's value (nested
    specs, lists and dicts frozen the same way) and every value's type (1, 1.0 and True are equal keys in a dict,
    but a count built from a float is a float). ModelSpec is a mutable pydantic model and has no hash; a cache keyed
    on this sees an assignment (``validate_assignment``) or an in-place change of a list as a new model. Values of any
    other type must be hashable themselves (``spec_memo`` calls through where one is not)."""
    vals = tuple(x.__dict__.values())
    types = tuple(map(type, vals))
    pos = _NOT_PLAIN.get(types)
    if pos is None:  # the positions to freeze, once per shape of the fields' types (a model has one or two)
        pos = _NOT_PLAIN[types] = tuple(i for i, t in enumerate(types) if t not in _PLAIN)
    if pos:
        vals = list(vals)
        for i in pos:
            vals[i] = _frozen(vals[i], types[i])
        vals = tuple(vals)
    return type(x), vals, types


#: the positions of the fields not of a ``_PLAIN`` type, by the fields' types
_NOT_PLAIN: dict = {}


def _frozen(v, t):
    if t is list or t is tuple:
        return t, tuple(e if type(e) in _PLAIN else _frozen(e, type(e)) for e in v), tuple(map(type, v))
    if t is dict:
        return dict, tuple((k, _frozen(e, type(e)), type(e)) for k, e in v.items())
    if isinstance(v, BaseModel):
        return spec_key(v)
    return v


#: results of ``spec_memo`` functions by (function, spec_key(model), arguments); cleared when it reaches
#: ``SPEC_MEMO_MAX`` entries (a search holds a few models: its job's, the stack variants' own copies)
_SPEC_MEMO: dict = {}
SPEC_MEMO_MAX = 4096


def spec_memo(fn):
    """``fn(m, *args)`` computed once per distinct model (``spec_key``) and arguments: the memory and step-time
    models call ``count_params`` / ``layer_kinds`` / the saved-tensor table several times a call on the same
    model (DeepSeek-V3: 8 and 8 times; speed40), each a walk over its fields. ``fn``'s result must be
    immutable (a frozen dataclass, a tuple): every caller gets the same object. Arguments must be hashable."""
    def memo(m, *args):
        try:
            key = (fn, spec_key(m), args)
            out = _SPEC_MEMO.get(key)
        except (TypeError, AttributeError):  # an unhashable argument or field, or not a spec: not cached
            return fn(m, *args)
        if out is None:
            if len(_SPEC_MEMO) >= SPEC_MEMO_MAX:
                _SPEC_MEMO.clear()
            out = _SPEC_MEMO[key] = fn(m, *args)
        return out
    memo.__wrapped__ = fn
    memo.__doc__, memo.__name__, memo.__qualname__ = fn.__doc__, fn.__name__, fn.__qualname__
    return memo


@dataclass(frozen=True)
class ParamCount:
    total: int  # every parameter tensor, counted once (tied weights once)
    active: int  # parameters touched per token (MoE: top_k experts + shared)
    embedding: int  # input embedding tables (token + position + type + embedding norm)
    lm_head: int  # output projection V*h when untied (0 when tied) + MLM head
    final_norm: int
    dense_layer: int  # one dense (non-MoE) layer
    moe_layer: int  # one MoE layer, all experts (0 for dense models)
    expert: int  # one routed expert's MLP
    n_dense_layers: int
    n_moe_layers: int
    mtp: int = 0  # multi-token-prediction modules (in total; DeepSeek-V3)
    #: the routers' parameters the model's config has and the job's weightless gate does not build (``router_params``),
    #: every MoE layer's and MTP module's; 0 under a learned router. In none of the counts above.
    routers_absent: int = 0

    @property
    def layers_total(self) -> int:
        return self.dense_layer * self.n_dense_layers + self.moe_layer * self.n_moe_layers

    @property
    def nominal(self) -> tuple[int, int]:
        """(total, active) parameters of the model as its config names it, routers included whatever gate the job
        runs (what ``Plan.params`` / ``params_active``, ``planner presets`` and the Chinchilla token default show);
        ``total`` / ``active`` are the parameters the job builds, which the weights, gradients, optimizer state and
        their traffic are priced on."""
        return self.total + self.routers_absent, self.active + self.routers_absent


def norm_params(m: ModelSpec) -> int:
    """One normalisation layer's parameters: RMSNorm a scale per hidden unit (transformers' ``LlamaRMSNorm.weight``),
    LayerNorm a scale and a bias (``torch.nn.LayerNorm``'s ``weight`` and ``bias``). Public: the pipeline's stage
    split, the HF activation rows and the serving weights count norms with it, as ``count_params`` does."""
    return m.hidden if m.norm == "rmsnorm" else 2 * m.hidden


def mlp_params(m: ModelSpec, width: int, io: int | None = None) -> int:
    """An MLP h -> width -> h; ``io``: the width it reads and writes when not ``hidden`` (LatentMoE's
    routed experts: ``ModelSpec.expert_io``): the matrices of planner.spec.shapes ``mlp_weights`` and their biases."""
    h = io or m.hidden
    w = macs(mlp_weights(m, width, io=io))
    b = (width + h) if m.linear_bias else 0
    if m.gated and m.linear_bias:
        b += width  # the second up-projection's bias
    return w + b


def attention_params(m: ModelSpec) -> int:
    """One layer's attention, norms inside it included (q/k norms, MLA's latent norms, sinks): the projections of
    planner.spec.shapes ``attention_weights`` and

    * standard: biases (qkv_bias q + 2kv, linear_bias h);
    * MLA (transformers ``modeling_deepseek_v3.py`` ``DeepseekV3Attention``): the latent norms r_q (with
      q_lora_rank) and r_kv, linear_bias h;
    * q/k norms: Qwen3/Gemma3 ``q_norm``/``k_norm`` RMSNorm(head_dim) (2*head_dim); OLMo 2 over the
      whole projections (q + kv, ``modeling_olmo2.py``); Llama-4's L2 norm has no weight;
    * gpt-oss ``sinks``: one per head (``modeling_gpt_oss.py``).
    """
    h, q, kv = m.hidden, m.q_dim, m.kv_dim
    w = macs(attention_weights(m))
    if m.mla is not None:
        a = m.mla
        return w + (a.q_lora_rank or 0) + a.kv_lora_rank + (h if m.linear_bias else 0)
    b = (q + 2 * kv if m.qkv_bias else 0) + (h if m.linear_bias else 0)
    qk = {"none": 0, "head": 2 * m.head_dim, "full": q + kv}[m.qk_norm]
    return w + b + qk + (m.heads if m.attention_sinks else 0)


def mamba_params(m: ModelSpec) -> int:
    """One Mamba-2 mixer (Megatron-Core megatron/core/ssm/mamba_mixer.py ``MambaMixer.__init__``;
    HF ``NemotronHMamba2Mixer`` the same): in_proj h x (2 d_inner + 2 G N + H) (z, x, B, C, dt; no
    bias), the depthwise conv1d over x, B, C ((d_inner + 2 G N) x d_conv weights and as many biases,
    ``conv_bias`` asserted on), dt_bias, A_log and D (H each; ``D_has_hdim`` False), the gated
    RMSNorm weight (d_inner)."""
    a, H, di = m.mamba, m.mamba_heads, m.mamba_inner
    conv = (di + 2 * a.groups * a.d_state) * (a.d_conv + 1)
    return macs(mamba_weights(m)) + conv + 3 * H + di


#: routings (vocab.MOE_ROUTING) whose gate has no weight, so no router GEMM runs forward or backward (planner.model.moe
#: ``moe_layer``) and no router parameter exists (``router_params``): NeMo AutoModel's ``FakeBalancedGate``
#: ("round_robin"; nemo_automodel/components/moe/layers.py, the MoEArgs version through the MoEConfig ones, read
#: 2026-12-07) holds no ``nn.Parameter`` (its ``__init__`` keeps the expert counts, ``skip_first_n_experts`` and
#: ``noise``; the learned ``Gate`` holds ``weight`` [experts, dim] and ``bias`` under ``router_bias``), builds the
#: routing weights from ``torch.ones(tokens, k) / k`` and the expert ids from ``torch.arange(tokens * k) % experts``:
#: no ``F.linear`` of the hidden states, no scores, no top-k (its ``update_bias`` is a no-op). The memory model keeps
#: no router input for it either (activations ``fake_gate``); Megatron-Core's force-balanced router ("learned" here)
#: runs its gating GEMM and then replaces the logits (router.py ``apply_random_logits``), so it keeps the GEMM and
#: the weight
GATELESS_ROUTINGS = frozenset({"round_robin"})


def router_params(m: ModelSpec, built: bool = True) -> int:
    """One MoE layer's router parameters: its gate's E x h weight and E bias (gpt-oss ``router_bias``; transformers
    ``GptOssTopKRouter``), none for a dense model. ``built``: as the job builds it, nothing under a weightless gate
    (``GATELESS_ROUTINGS``); else as the model's config names it. Until cleanup54 AutoModel's FakeBalancedGate was
    priced with no router GEMM but its E x h weight a layer in the weights, gradients and optimizer state
    (DeepSeek-V3: 58 x 256 x 7,168 = 106.4M parameters, about 1.7 GB of bf16 weights, fp32 master and Adam moments
    over the model, before sharding)."""
    e = m.moe
    if e is None or (built and e.routing in GATELESS_ROUTINGS):
        return 0
    return m.hidden * e.experts + (e.experts if e.router_bias else 0)


def latent_proj_params(m: ModelSpec) -> int:
    """LatentMoE's two projections around the routed experts (planner.spec.shapes ``latent_weights``),
    biases l + h with ``linear_bias`` (Megatron-Core ``bias=add_bias_linear``, HF ``mlp_bias``)."""
    h, l = m.hidden, m.moe.latent_size
    return macs(latent_weights(m)) + ((h + l) if m.linear_bias else 0)


def mtp_modules(m: ModelSpec) -> int:
    """MTP modules that hold weights: one per depth, or one shared by all depths (``mtp_repeated``)."""
    return min(m.mtp_layers, 1) if m.mtp_repeated else m.mtp_layers


def mtp_params(m: ModelSpec, moe_layer: int, dense_layer: int) -> int:
    """DeepSeek-V3 multi-token prediction, per module (DeepSeek-V3 ``inference/model.py`` and
    Megatron-Core ``multi_token_prediction.py``): enorm + hnorm (h each), eh_proj 2h*h, one
    transformer block (MoE when the model has MoE layers), the head's norm h; the embedding and
    output head are shared with the main model. transformers 5.23 builds no MTP module."""
    h = m.hidden
    # a hybrid model's ``moe_layer`` is the E block alone: its "*E" MTP block adds the attention layer
    hybrid_attn = attention_params(m) + norm_params(m) if m.hybrid else 0
    return 3 * h + 2 * h * h + hybrid_attn + (moe_layer if m.moe is not None else dense_layer)


def layer_kinds(m: ModelSpec) -> tuple[str, ...]:
    """The kind of each decoder layer, in order: a hybrid's pattern symbols (vocab.HYBRID_LAYER; "E" its MoE block,
    which holds no attention), else "moe" for the MoE layers (``ModelSpec.moe_layer_ids``: DeepSeek-V3's first
    three are "dense") and "dense" for the rest -- the blocks a pipeline stage holds (planner.model.memory
    ``StageSplit``), whose weights differ by kind (planner.model.optimizers ``block_matrices``)."""
    if m.hybrid:
        return tuple(m.hybrid_pattern)
    moe = set(m.moe_layer_ids) if m.moe is not None else set()
    return tuple("moe" if i in moe else "dense" for i in range(m.layers))


def hybrid_block_params(m: ModelSpec) -> dict:
    """Parameters of one non-MoE block of a hybrid model by kind (vocab.HYBRID_LAYER): its pre-norm and
    its mixer -- "*" attention, "-" the dense MLP, "M" the Mamba-2 mixer (Megatron-Core's hybrid layers
    each own one norm: mamba_layer.py / the TE LayerNormLinear of attention and MLP). The "E" block is
    ``ParamCount.moe_layer``."""
    kinds = {"*": attention_params(m), "-": mlp_params(m, m.dense_width),
             "M": mamba_params(m) if m.mamba is not None else 0}
    return {k: p + norm_params(m) for k, p in kinds.items()}


def head_positions(m: ModelSpec, seq, head_seq=None):
    """Positions of a sequence the output head and its loss run on: the one rule every head count reads (FLOPs, the
    step time's head, the logits the memory walks price).

    * classifier (``model.output_head``): 1, the [CLS] token (transformers models/bert/modeling_bert.py
      ``BertPooler.forward``: ``first_token_tensor = hidden_states[:, 0]``; the loss on ``(batch, num_labels)``);
    * ``head_seq`` (``TrainingSpec.head_tokens_per_seq``: the masked positions NVIDIA DeepLearningExamples' BERT
      gathers before its MLM head), at most ``seq``;
    * otherwise every position (a causal LM; HF's ``BertForMaskedLM`` runs its ``cls`` head on the whole
      ``sequence_output``)."""
    if m.output_head == "classifier":
        return np.minimum(seq, 1.0)
    return seq if head_seq is None else np.minimum(seq, head_seq)


def head_width(m: ModelSpec) -> int:
    """The logits a head position makes: the vocabulary, or a classifier's ``num_labels`` (transformers
    ``BertForSequenceClassification.classifier = nn.Linear(hidden_size, num_labels)``)."""
    return m.num_labels if m.output_head == "classifier" else m.vocab


def head_dense_macs(m: ModelSpec) -> int:
    """Multiply-accumulates of the head's h x h dense before its output linear, a head position: a classifier's pooler
    (modeling_bert.py ``BertPooler.dense``, then tanh) or BERT's MLM transform (``BertPredictionHeadTransform.dense``,
    then GELU and LayerNorm); a causal LM's head has none."""
    return m.hidden * m.hidden if m.output_head == "classifier" or m.mlm_head else 0


def head_macs(m: ModelSpec) -> int:
    """Multiply-accumulates a head position's linears do: the dense before the output linear (``head_dense_macs``),
    then the vocabulary projection h x V, or a classifier's h x num_labels (modeling_bert.py
    ``BertForSequenceClassification.classifier``)."""
    return head_dense_macs(m) + m.hidden * head_width(m)


def head_linear_params(m: ModelSpec) -> int:
    """Weights and biases of the head's linears (what autocast casts; a classifier's whole head): the vocabulary
    projection (BERT's MLM transform dense and its bias before it; the decoder's bias is added, not a linear's), or a
    classifier's pooler dense and classifier, each with its bias."""
    h = m.hidden
    if m.output_head == "classifier":
        return h * h + h + h * m.num_labels + m.num_labels
    return m.vocab * h + (h * h + h if m.mlm_head else 0)


@spec_memo
def count_params(m: ModelSpec) -> ParamCount:
    if not m.is_transformer:
        n = int(m.params)
        return ParamCount(n, n, 0, 0, 0, n, 0, 0, 1, 0)
    h, V = m.hidden, m.vocab
    attn = attention_params(m)
    norms = m.layer_norms * norm_params(m)  # Gemma 2/3: pre+post attention and MLP norms (4)
    dense_layer = attn + mlp_params(m, m.dense_width) + norms
    moe_layer = moe_active = expert = 0
    n_moe = m.moe_layers
    if m.hybrid:  # one norm + one mixer per layer; the MoE block's attention is its own "*" layer
        attn = norms = 0
    if m.moe is not None:
        e = m.moe
        expert = mlp_params(m, m.ffn_hidden, m.expert_io)
        shared = 0
        if e.shared_experts:
            shared = mlp_params(m, shared_expert_width(m)) + (h if e.shared_expert_gate else 0)
        router = router_params(m)
        if e.latent_size:  # fc1_latent_proj h -> l and fc2_latent_proj l -> h (moe_layer.py; HF NemotronHMoE)
            router += latent_proj_params(m)
        moe_layer = attn + norms + router + e.experts * expert + shared + (norm_params(m) if m.hybrid else 0)
        moe_active = attn + norms + router + e.top_k * expert + shared + (norm_params(m) if m.hybrid else 0)
    n_dense = m.layers - n_moe
    if m.hybrid:
        # the non-MoE layers' total, as a mean per layer (``dense_layer`` x ``n_dense_layers``)
        other = sum(m.kind_layers(k) * p for k, p in hybrid_block_params(m).items())
        dense_layer = other / n_dense if n_dense else 0
    embedding = V * h
    if m.position == "learned":
        embedding += m.max_positions * h
    embedding += m.type_vocab * h
    if m.family == "encoder":
        embedding += norm_params(m)  # BERT's embedding LayerNorm
    final_norm = norm_params(m) if m.family != "encoder" else 0
    lm_head = 0 if m.tied_embeddings else V * h
    if m.mlm_head:
        lm_head += h * h + h + norm_params(m) + V  # transform dense + norm + decoder bias
    if m.output_head == "classifier":  # the pooler and the classifier, both with bias (head_linear_params)
        lm_head = head_linear_params(m)
    layers = (other if m.hybrid else dense_layer * n_dense) + moe_layer * n_moe
    layers_active = (other if m.hybrid else dense_layer * n_dense) + moe_active * n_moe
    n_mtp = mtp_modules(m)
    mtp = n_mtp * mtp_params(m, moe_layer, dense_layer) if m.mtp_layers else 0
    mtp_active = n_mtp * mtp_params(m, moe_active, dense_layer) if m.mtp_layers else 0
    total = embedding + layers + final_norm + lm_head + mtp
    active = embedding + layers_active + final_norm + lm_head + mtp_active
    # a weightless gate's routers, every MoE layer's and each MTP module's MoE block's (``mtp_params``)
    routers_absent = (router_params(m, built=False) - router_params(m)) * (n_moe + (n_mtp if m.mtp_layers else 0))
    return ParamCount(
        total=total, active=active, embedding=embedding, lm_head=lm_head, final_norm=final_norm,
        dense_layer=dense_layer, moe_layer=moe_layer, expert=expert,
        n_dense_layers=n_dense, n_moe_layers=n_moe, mtp=mtp, routers_absent=routers_absent,
    )
