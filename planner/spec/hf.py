"""Hugging Face ``config.json`` to ModelSpec fields, one mapper per ``model_type`` (a registry).

The files are read locally, never downloaded. Each mapping was checked against the HF modelling
code's parameter count on the meta device (tests/data/hf_params.json, made by
tests/make_hf_params.py).
"""
from __future__ import annotations

import math
from pathlib import Path

from hardware_catalog.files import is_folder, is_regular_file
from planner import vocab as V
from planner.errors import InputError, clip, read_json_object, shown_path
from planner.spec.schema import MAX_REASONABLE


def hf_config_path(path: str | Path, field: str) -> Path:
    """The config.json a path names: the file itself, or the ``config.json`` of a Hugging Face model folder (as
    ``from_pretrained`` reads a local folder; only that file is read -- weights, tokenizer and generation config are
    not opened). A folder without one is refused."""
    p = Path(path)
    if is_folder(p):  # (not Path.is_dir, which raises on a name too long: ``entry_mode``)
        if not is_regular_file(p / "config.json"):
            raise InputError(field, f"{shown_path(p)} is a folder that has no config.json: give a Hugging Face model folder, "
                                    "its config.json, or a job YAML")
        return p / "config.json"
    return p


def load_hf_config(path: str | Path, field: str = "model.hf_config") -> dict:
    """Read a local Hugging Face ``config.json`` (never downloaded) into ModelSpec fields."""
    return read_hf_config(path, field)[0]


def read_hf_config(path: str | Path, field: str = "model.hf_config") -> tuple[dict, list[str], dict]:
    """(ModelSpec fields, assumption lines, the config itself) of a local ``config.json`` (``hf_config_notes``)."""
    cfg = read_json_object(hf_config_path(path, field), field)
    return hf_config_to_fields(cfg, field), hf_config_notes(cfg), cfg


#: the ModelSpec fields a config.json's keys of the same meaning set (the Llama-style names most families share;
#: GPT-2's ``n_head`` and the like are not renamed): an error ModelSpec raises on one of them is named by the key the
#: user can fix (``hf_named``)
HF_KEYS = {"kv_heads": "num_key_value_heads", "heads": "num_attention_heads", "hidden": "hidden_size",
           "layers": "num_hidden_layers", "ffn_hidden": "intermediate_size", "vocab": "vocab_size",
           "head_dim": "head_dim"}


def hf_named(e: InputError, cfg: dict, at: str, given=()) -> InputError:
    """``e`` (an error on ``model.<field>``) named by the config.json key that set the field: ``model.kv_heads: heads
    (32) not divisible by kv_heads (5)`` named a field the user never wrote (qa57). ``at``: where the config's keys
    live (``model.hf_config``; "" for a config.json given as the job); ``given``: the fields the job wrote over the
    config (their errors keep the job's name). Any other error is returned as it is.

    >>> hf_named(InputError("model.kv_heads", "heads (32) not divisible by kv_heads (5)"),
    ...          {"num_key_value_heads": 5}, "model.hf_config").field
    'model.hf_config.num_key_value_heads'
    """
    field = e.field.removeprefix("model.")
    key = HF_KEYS.get(field)
    if not e.field.startswith("model.") or key not in cfg or field in given:
        return e
    return InputError(f"{at}.{key}" if at else key, f"{e.message} (the planner's model.{field})")


def hf_config_notes(cfg: dict) -> list[str]:
    """What a config.json holds that the mapped model leaves out, for the plan's assumptions: DeepSeek-V3's
    MTP modules (``num_nextn_predict_layers``), which transformers does not build and the count therefore
    leaves out, but which its training runs (DeepSeek-V3 report §2.2; the deepseek-v3 preset plans one:
    11.6B parameters more, 682.6B against 671.0B)."""
    n = cfg.get("num_nextn_predict_layers")
    if cfg.get("model_type") in ("deepseek_v2", "deepseek_v3") and n:
        return [f"model: the config's num_nextn_predict_layers ({n}) MTP module(s) are not planned (transformers "
                f"builds none); set model.mtp_layers: {n} to train them"]
    return []


def hf_config_to_fields(cfg: dict, field: str = "model.hf_config") -> dict:
    """Map a Hugging Face config dict to ModelSpec fields. Supported ``model_type``s are listed in
    ``HF_MAPPERS``; the mapping of each was checked against the HF modelling code's parameter count
    (tests/data/hf_params.json, made by tests/make_hf_params.py)."""
    mtype = cfg.get("model_type")
    mapper = HF_MAPPERS.get(mtype) if isinstance(mtype, str) else None
    if mapper is None:
        raise InputError(
            field, f"unsupported model_type {clip(mtype)}; supported: {', '.join(sorted(HF_MAPPERS))}"
        )
    _check_key_kinds(cfg, field)
    _check_layer_types(cfg, field)
    try:
        out = mapper(_Needed(cfg))
    except _NullKey as e:
        raise InputError(f"{field}.{e.args[0]}", f"is null, and model_type {clip(mtype)} needs a value here "
                                                 "(transformers builds no model without one)") from None
    except KeyError as e:
        raise InputError(field, f"config.json lacks {e.args[0]!r} needed for model_type {clip(mtype)}") from None
    out.setdefault("name", cfg.get("_name_or_path") or mtype)
    out.setdefault("hf_model_type", mtype)  # the transformers code it is (moe.HF_EP_PLANS)
    out.update(_rope_and_eps(cfg, out, field))
    ctx = cfg.get("max_position_embeddings") or cfg.get("n_positions")
    if ctx is not None and "context_length" not in out:
        out["context_length"] = ctx  # ModelSpec.context_length: what vLLM would serve as max_model_len
    return out


class _NullKey(KeyError):
    """A key a mapper needs (``cfg[key]``) holds JSON null."""


class _Needed(dict):
    """A config.json as the mappers read it: ``cfg[key]`` is a key the family needs, and a JSON null there is no
    value -- transformers' config classes keep the None and the model's build fails on it (``hidden_size: null``
    reached the mapper's ``hidden // heads`` as an internal TypeError until fuzz48); ``get`` reads null as
    before, where it means the class default (``head_dim``, ``num_key_value_heads``, ``q_lora_rank``: Llama's
    hidden / heads, MHA, DeepSeek-V2-Lite's unfactored q)."""

    def __getitem__(self, key):
        v = super().__getitem__(key)
        if v is None:
            raise _NullKey(key)
        return v


#: the config.json keys of the norms' epsilon, by family: Llama-like ``rms_norm_eps``, BERT ``layer_norm_eps``,
#: GPT-2 / Nemotron-H ``layer_norm_epsilon`` (the first present is taken)
_EPS_KEYS = ("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon")
#: the local (sliding-window) layers' RoPE base a config class takes when its config.json leaves the key out:
#: transformers Gemma3TextConfig ``rope_local_base_freq=10_000.0`` (configuration_gemma3.py); Gemma 2 and gpt-oss
#: have one base for every layer
ROPE_LOCAL_DEFAULTS = {"gemma3_text": 10000.0}
#: the ``rope_scaling`` keys read into ModelSpec.rope_scaling (RopeScalingSpec field <- config key)
_ROPE_SCALING_KEYS = {"low_freq_factor": "low_freq_factor", "high_freq_factor": "high_freq_factor",
                      "original_max_positions": "original_max_position_embeddings",
                      "beta_fast": "beta_fast", "beta_slow": "beta_slow", "mscale": "mscale",
                      "mscale_all_dim": "mscale_all_dim"}


def _rope_and_eps(cfg: dict, out: dict, field: str) -> dict:
    """ModelSpec ``rope_theta``, ``rope_scaling`` and ``norm_eps`` of a config.json, for the launch scripts
    (planner.present.emit ``megatron_rope_flags``): ``rope_theta`` and ``rope_scaling`` as transformers 4.x writes them, or
    transformers 5.x's ``rope_parameters`` (``rope_theta``, ``rope_type``, ``factor``, ...; Gemma 3's per layer type,
    of which the full-attention layers' is taken). Gemma 3's sliding-window layers rotate at their own base, HF
    ``rope_local_base_freq`` (5.x: ``rope_parameters.sliding_attention.rope_theta``; absent: the config class's
    default, ``ROPE_LOCAL_DEFAULTS``), read into ``rope_local_base_freq`` where the model has local layers and the
    base differs from ``rope_theta``: the launch scripts say what their one ``--rotary-base`` cannot carry (until
    small30 it was dropped, and a Megatron line trained the local layers at 1,000,000 without a word). ``rope_type``
    ``default`` (or none) is no scaling; a longrope without ``factor`` takes max_position_embeddings /
    original_max_position_embeddings, as transformers ``_compute_longrope_parameters``. Read only for a model with
    RoPE (Nemotron-H configs carry a ``rope_theta`` their attention never applies)."""
    fields = {}
    eps = next((cfg[k] for k in _EPS_KEYS if cfg.get(k) is not None), None)
    if eps is not None:
        if not eps < 1:
            raise InputError(f"{field}.{next(k for k in _EPS_KEYS if cfg.get(k) is not None)}",
                             f"must be below 1, got {clip(eps)}")
        fields["norm_eps"] = float(eps)
    if out.get("position", "rope") != "rope":
        return fields
    params = cfg.get("rope_parameters")
    if params is not None and not isinstance(params, dict):
        raise InputError(f"{field}.rope_parameters", f"must be an object, got {clip(params)}")
    sliding = None
    if params and isinstance(params.get("full_attention"), dict):  # per layer type (Gemma 3)
        sliding = params.get("sliding_attention")
        params = params["full_attention"]
    theta = cfg.get("rope_theta", (params or {}).get("rope_theta"))
    if theta is not None:
        if not (_number(theta) and theta > 1):
            raise InputError(f"{field}.rope_theta", f"must be a finite number above 1, got {clip(theta)}")
        fields["rope_theta"] = float(theta)
    local = cfg.get("rope_local_base_freq", sliding.get("rope_theta") if isinstance(sliding, dict) else None)
    if local is None:
        local = ROPE_LOCAL_DEFAULTS.get(cfg.get("model_type"))
    if local is not None and out.get("local_layers") and out.get("sliding_window"):
        if not (_number(local) and local > 1):
            key = "rope_local_base_freq" if "rope_local_base_freq" in cfg else "rope_parameters.sliding_attention.rope_theta"
            raise InputError(f"{field}.{key}", f"must be a finite number above 1, got {clip(local)}")
        if local != theta:
            fields["rope_local_base_freq"] = float(local)
    scaling = cfg.get("rope_scaling") or params
    if scaling is None:
        return fields
    key = "rope_scaling" if cfg.get("rope_scaling") else "rope_parameters"
    if not isinstance(scaling, dict):
        raise InputError(f"{field}.{key}", f"must be an object, got {clip(scaling)}")
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "default":
        return fields
    if not isinstance(kind, str) or kind not in V.ROPE_SCALING.code:  # ([] was an internal "unhashable type")
        raise InputError(f"{field}.{key}.rope_type", f"{clip(kind)} is not a RoPE scaling the planner knows; one of "
                                                     f"default, {', '.join(V.ROPE_SCALING.names)}")
    factor = scaling.get("factor")
    original = scaling.get("original_max_position_embeddings")
    if factor is None and kind == "longrope" and _whole(original) and original > 0 and cfg.get("max_position_embeddings"):
        factor = cfg["max_position_embeddings"] / original  # (a positive integer: _POSITIVE_INTS, bounded below)
    if not (_number(factor) and factor > 0):
        raise InputError(f"{field}.{key}.factor", f"must be a positive finite number, got {clip(factor)}")
    spec = {"type": kind, "factor": float(factor)}
    for name, k in _ROPE_SCALING_KEYS.items():
        if scaling.get(k) is not None:
            spec[name] = scaling[k]
    fields["rope_scaling"] = spec
    return fields


# the config.json keys the mappers read as sizes: positive integers (a 0 head count divided by
# zero, a string hidden size reached the arithmetic as an internal error)
_POSITIVE_INTS = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size",
                  "num_key_value_heads", "head_dim", "n_embd", "n_layer", "n_head", "n_inner", "n_positions",
                  "max_position_embeddings", "num_local_experts", "num_experts_per_tok", "moe_intermediate_size",
                  "num_experts", "shared_expert_intermediate_size", "decoder_sparse_step")
_NONNEG_INTS = ("type_vocab_size",)
_BOOLS = ("tie_word_embeddings", "attention_bias", "mlp_bias", "norm_topk_prob")
# the other numbers the mappers read (MLA, DeepSeek's MoE layout, windows, Llama-4's interleave): a string
# "128" reached the arithmetic as an internal TypeError (or "1" x 2048 as a 2048-digit expert width), a 0
# sliding_window_pattern divided by zero, "2" groups or a 0 window were quietly read as other values
_POSITIVE_INTS += ("qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "kv_lora_rank", "q_lora_rank",
                   "n_group", "topk_group", "moe_layer_freq", "sliding_window_pattern",
                   "attention_chunk_size", "interleave_moe_layer_step", "intermediate_size_mlp",
                   "no_rope_layer_interval")
# sliding_window 0 = none (Qwen2MoeConfig writes 0 when use_sliding_window is off)
_NONNEG_INTS += ("n_shared_experts", "first_k_dense_replace", "max_window_layers", "num_nextn_predict_layers",
                 "sliding_window")
_BOOLS += ("use_sliding_window", "add_cross_attention", "qkv_bias")
_STRINGS = ("hidden_act", "hidden_activation", "scoring_func", "topk_method")
_NUMBERS = ("swiglu_limit", "rope_theta", "rope_local_base_freq", "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon")
_INDEX_LISTS = ("mlp_only_layers", "moe_layers", "no_rope_layers")
#: transformers ``configuration_utils.ALLOWED_LAYER_TYPES`` the mapped families use
_LAYER_TYPES = ("full_attention", "sliding_attention", "chunked_attention")


def _check_layer_types(cfg: dict, field: str) -> None:
    """``layer_types``: one known type per layer, as transformers' ``layer_type_validation`` requires
    (a string, a short list or unknown names were counted as some other number of local layers)."""
    types = cfg.get("layer_types")
    if types is None:
        return
    if not isinstance(types, list):
        raise InputError(f"{field}.layer_types", f"must be a list of layer types, got {clip(types)}")
    bad = next((t for t in types if not isinstance(t, str) or t not in _LAYER_TYPES), None)
    if bad is not None:
        raise InputError(f"{field}.layer_types", f"{clip(bad)} is not a layer type; one of {', '.join(_LAYER_TYPES)}")
    n = cfg.get("num_hidden_layers")
    if isinstance(n, int) and len(types) != n:
        raise InputError(f"{field}.layer_types", f"has {len(types)} entries for num_hidden_layers {n}")
# nemotron_h's Mamba and MoE sizes: ModelSpec checks their range, but its lax ints would take "64"
_POSITIVE_INTS += ("mamba_num_heads", "mamba_head_dim", "n_groups", "ssm_state_size", "conv_kernel", "expand",
                   "chunk_size", "n_routed_experts", "moe_shared_expert_intermediate_size", "moe_latent_size")


def _whole(v) -> bool:
    """A JSON integer (``true`` is a bool, not a size)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    """A JSON number a float holds: not a bool, finite once read as one. A 30-digit integer passed ``v < math.inf``
    and then overflowed in ``float(v)`` (``rope_theta: 1e29`` written as digits: an internal OverflowError until
    fuzz48); Python's json reads ``NaN`` / ``Infinity``, which are no number here."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


#: what the keys of each kind above must hold, in the order they are checked: (keys, accepts, "must be ...")
_KEY_KINDS = (
    (_POSITIVE_INTS, lambda v: _whole(v) and v > 0, "a positive integer"),
    (_NONNEG_INTS, lambda v: _whole(v) and v >= 0, "a non-negative integer"),
    (_BOOLS, lambda v: isinstance(v, bool), "true or false"),
    (_STRINGS, lambda v: isinstance(v, str), "a string"),
    (_INDEX_LISTS, lambda v: isinstance(v, list) and all(_whole(i) and i >= 0 for i in v),
     "a list of non-negative integers"),
    (_NUMBERS, lambda v: _number(v) and v > 0, "a positive finite number"),
)
#: the sizes a mapper acts on before ModelSpec bounds them, held to the schema's limits first: a layer count it loops
#: over (Llama-4's MoE and no-RoPE layer lists, Qwen3 / Gemma's local layers: ``num_hidden_layers: 10000000`` took
#: 18 s and 1.5 GB to reach model.layers' refusal, 10^9 ran out of memory) and the positions a longrope factor is
#: divided from (a 400-digit count overflowed the float division) -- fuzz48
_AT_MOST = {"num_hidden_layers": MAX_REASONABLE["layers"], "n_layer": MAX_REASONABLE["layers"],
            "max_position_embeddings": MAX_REASONABLE["seq_len"], "n_positions": MAX_REASONABLE["seq_len"]}


def _check_key_kinds(cfg: dict, field: str) -> None:
    """Every key of ``_KEY_KINDS`` the config sets holds its kind: the first that does not is refused."""
    for keys, accepts, what in _KEY_KINDS:
        for key in keys:
            v = cfg.get(key)
            if v is not None and not accepts(v):
                raise InputError(f"{field}.{key}", f"must be {what}, got {clip(v)}")
    for key, most in _AT_MOST.items():
        if _whole(cfg.get(key)) and cfg[key] > most:
            raise InputError(f"{field}.{key}", f"must be at most {most:,}, got {clip(cfg[key])}")


def _llama_like(cfg: dict, qkv_bias: bool = False, head_dim: int | None = None, kv_heads: int | None = None) -> dict:
    """Llama (``modeling_llama.py``) and the families built on it. ``head_dim``: the config class's default
    when the key is absent (Qwen3Config 128, Gemma2Config / Gemma3TextConfig 256, GptOssConfig 64,
    Llama4TextConfig 128; Llama, Mistral, Mixtral, Qwen2, Phi-3: hidden / heads); an explicit null is
    hidden / heads. Reading the absent key as hidden / heads planned a hand-written Qwen3 of hidden 1024 and
    16 heads with 64-wide heads where transformers builds 128. ``kv_heads``: likewise the class default of
    an absent ``num_key_value_heads`` (MistralConfig / MixtralConfig 8, Qwen2Config / Qwen3Config 32,
    Qwen3MoeConfig 4, Qwen2MoeConfig 16, Gemma2Config 4; Llama, Phi-3, OLMo 2: the heads; an explicit null:
    the heads): a hand-written Mistral of 32 heads is GQA with 8 KV heads in transformers, not MHA."""
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", kv_heads) or nh
    if "num_key_value_heads" not in cfg and kv_heads and nh % kv_heads:
        raise InputError("model.hf_config.num_key_value_heads",
                         f"absent: transformers takes the {clip(cfg.get('model_type'))} default {kv_heads}, which "
                         f"does not divide num_attention_heads {nh}; give num_key_value_heads")
    return dict(
        family="decoder", layers=cfg["num_hidden_layers"], hidden=h, heads=nh,
        kv_heads=kv, head_dim=cfg.get("head_dim", head_dim) or h // nh,
        ffn_hidden=cfg["intermediate_size"], vocab=cfg["vocab_size"],
        mlp="swiglu" if cfg.get("hidden_act", "silu") in ("silu", "swish") else "geglu",
        norm="rmsnorm", tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        qkv_bias=qkv_bias or bool(cfg.get("attention_bias", False)), position="rope",
        # Llama's attention_bias puts a bias on q,k,v *and* o_proj, mlp_bias on the three MLP
        # linears; ModelSpec's linear_bias means o_proj + MLP, so it is exact when both are set
        # (or neither) and off by the o_proj bias (h per layer) when only one is
        linear_bias=bool(cfg.get("mlp_bias", False)),
    )


def _mixtral(cfg: dict) -> dict:
    """Mixtral (``modeling_mixtral.py``): Mistral's attention (``sliding_window`` on every layer;
    MixtralConfig's default is none) and ``num_local_experts`` experts."""
    out = _phi3(cfg, kv_heads=8)
    out.update(family="moe", moe=dict(experts=cfg["num_local_experts"], top_k=cfg["num_experts_per_tok"]))
    return out


def _qwen_window(cfg: dict, moe: bool = False) -> dict:
    """Qwen2/Qwen3 dense sliding windows: transformers keeps ``sliding_window`` only with
    ``use_sliding_window`` (default false) and puts it on the layers ``i >= max_window_layers``
    (default 28), unless ``layer_types`` lists them (``configuration_qwen2.py`` /
    ``configuration_qwen3.py``). ``moe=True``: Qwen2-MoE's rule (``configuration_qwen2_moe.py``): the
    even layers ``i < max_window_layers``; its ``sliding_window`` is 0 when off."""
    w = cfg.get("sliding_window", 4096)
    if not (cfg.get("use_sliding_window", False) and w):
        return {}
    start = cfg.get("max_window_layers", 28)
    rule = (lambda i: i % 2 == 0 and i < start) if moe else (lambda i: i >= start)
    return dict(sliding_window=w, local_layers=_local_layers(cfg, rule))


def _qwen2(cfg: dict) -> dict:
    """Qwen2 (``modeling_qwen2.py``): Llama with biases on q, k, v; windows as ``_qwen_window``."""
    return {**_llama_like(cfg, qkv_bias=True, kv_heads=32), **_qwen_window(cfg)}


def _qwen2_moe(cfg: dict) -> dict:
    if cfg.get("decoder_sparse_step", 1) != 1 or cfg.get("mlp_only_layers"):
        # the dense layers would use intermediate_size, the MoE ones moe_intermediate_size;
        # ModelSpec has one ffn_hidden, so refuse rather than miscount
        raise InputError("model.hf_config", "qwen2_moe with dense layers (decoder_sparse_step != 1 "
                         "or mlp_only_layers) is not supported")
    # Qwen2MoeConfig.qkv_bias (default true) sets the q/k/v biases
    out = {**_llama_like(cfg, qkv_bias=cfg.get("qkv_bias", True), kv_heads=16), **_qwen_window(cfg, moe=True)}
    out.update(
        family="moe", ffn_hidden=cfg["moe_intermediate_size"],
        moe=dict(
            experts=cfg["num_experts"], top_k=cfg["num_experts_per_tok"], shared_experts=1,
            shared_ffn_hidden=cfg["shared_expert_intermediate_size"], shared_expert_gate=True,
        ),
    )
    return out


def _gpt2(cfg: dict) -> dict:
    if cfg.get("add_cross_attention"):  # GPT2Block's crossattention + ln_cross_attn: an encoder-decoder's half
        raise InputError("model.hf_config.add_cross_attention", "true (cross-attention layers) is not modelled")
    h = cfg["n_embd"]
    return dict(
        family="decoder", layers=cfg["n_layer"], hidden=h, heads=cfg["n_head"],
        ffn_hidden=cfg.get("n_inner") or 4 * h, vocab=cfg["vocab_size"], mlp="gelu",
        # GPT2Config ties by default; GPT2LMHeadModel keeps its own lm_head when the config says false
        norm="layernorm", tied_embeddings=bool(cfg.get("tie_word_embeddings", True)), qkv_bias=True, linear_bias=True,
        position="learned", max_positions=cfg["n_positions"],
    )


def _bert(cfg: dict) -> dict:
    h = cfg["hidden_size"]
    return dict(
        family="encoder", layers=cfg["num_hidden_layers"], hidden=h,
        heads=cfg["num_attention_heads"], ffn_hidden=cfg["intermediate_size"],
        vocab=cfg["vocab_size"], mlp="gelu", norm="layernorm",
        tied_embeddings=bool(cfg.get("tie_word_embeddings", True)),
        qkv_bias=True, linear_bias=True, position="learned",
        max_positions=cfg["max_position_embeddings"], type_vocab=cfg.get("type_vocab_size", 2),
        mlm_head=True, **_bert_head(cfg),
    )


def _bert_head(cfg: dict) -> dict:
    """A fine-tuned classifier's config.json names its class (``architectures``: ``BertForSequenceClassification``)
    and its labels (``id2label``, which transformers' ``PretrainedConfig.num_labels`` counts; ``num_labels`` where
    given alone): ``model.output_head`` classifier. Any other BERT: the MLM head."""
    if "BertForSequenceClassification" not in (cfg.get("architectures") or []):
        return {}
    labels = cfg.get("id2label")
    return dict(output_head="classifier", num_labels=len(labels) if labels else cfg.get("num_labels"))


# ------------------------------------------------------------------ current families
# Each mapper below was checked to the last parameter against transformers 5.23 built on the meta
# device from the full-size configs in tests/data/hf_configs (tests/test_params.py).

def _local_layers(cfg: dict, default_types) -> int:
    """Layers with sliding-window or chunked attention: from ``layer_types`` when the config has
    it, else from the family's default pattern (``default_types(i)`` is True for a local layer)."""
    types = cfg.get("layer_types")
    if types:
        return sum(t in ("sliding_attention", "chunked_attention") for t in types)
    return sum(bool(default_types(i)) for i in range(cfg["num_hidden_layers"]))


def _qwen3(cfg: dict) -> dict:
    """Qwen3 dense (``modeling_qwen3.py``): Llama plus per-head q_norm/k_norm RMSNorm(head_dim)."""
    out = {**_llama_like(cfg, head_dim=128, kv_heads=32), **_qwen_window(cfg)}
    out["qk_norm"] = "head"
    return out


def _qwen3_moe(cfg: dict) -> dict:
    """Qwen3-MoE (``modeling_qwen3_moe.py``): q/k norm, ``num_experts`` fine-grained experts of
    ``moe_intermediate_size``, no shared expert, dense layers (``mlp_only_layers``, or not a
    multiple of ``decoder_sparse_step``) of ``intermediate_size``."""
    out = _llama_like(cfg, kv_heads=4)  # Qwen3MoeConfig has no head_dim default: hidden / heads when absent
    out["qk_norm"] = "head"
    if cfg.get("use_sliding_window", False) and cfg.get("sliding_window", 4096):
        # Qwen3MoeAttention: ``sliding_window`` on every layer (no max_window_layers / layer_types)
        out.update(sliding_window=cfg.get("sliding_window", 4096), local_layers=cfg["num_hidden_layers"])
    out.update(
        family="moe", ffn_hidden=cfg["moe_intermediate_size"], dense_ffn_hidden=cfg["intermediate_size"],
        # transformers 5.x writes num_local_experts (num_experts is its attribute alias)
        moe=dict(experts=cfg["num_experts"] if "num_experts" in cfg else cfg["num_local_experts"],
                 top_k=cfg["num_experts_per_tok"], layer_freq=cfg.get("decoder_sparse_step", 1) or 1,
                 dense_layers=list(cfg.get("mlp_only_layers") or []),
                 norm_topk_prob=bool(cfg.get("norm_topk_prob", False))),
    )
    return out


def _deepseek(cfg: dict) -> dict:
    """DeepSeek-V2/V3, Kimi-K2 (``modeling_deepseek_v2.py`` / ``modeling_deepseek_v3.py``): MLA,
    ``n_routed_experts`` + ``n_shared_experts`` of ``moe_intermediate_size``, the first
    ``first_k_dense_replace`` layers dense of ``intermediate_size``, group-limited routing
    (``n_group``/``topk_group``). ``num_nextn_predict_layers`` is not mapped: transformers builds
    no MTP module (the count matches what it builds); set ``mtp_layers`` to plan it."""
    if (cfg.get("moe_layer_freq") or 1) != 1:
        raise InputError("model.hf_config", "deepseek moe_layer_freq != 1 is not supported")
    if cfg.get("attention_bias"):  # biases on q_a / kv_a / o_proj (DeepseekV3Attention): not in the MLA count
        raise InputError("model.hf_config.attention_bias", "true is not modelled for MLA (deepseek)")
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    shared = cfg.get("n_shared_experts") or 0
    return dict(
        family="moe", layers=cfg["num_hidden_layers"], hidden=h, heads=nh, kv_heads=nh,
        head_dim=cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"],
        ffn_hidden=cfg["moe_intermediate_size"], dense_ffn_hidden=cfg["intermediate_size"],
        vocab=cfg["vocab_size"], mlp="swiglu", norm="rmsnorm",
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)), position="rope",
        mla=dict(q_lora_rank=cfg.get("q_lora_rank"), kv_lora_rank=cfg["kv_lora_rank"],
                 qk_nope_head_dim=cfg["qk_nope_head_dim"], qk_rope_head_dim=cfg["qk_rope_head_dim"],
                 v_head_dim=cfg["v_head_dim"]),
        moe=dict(experts=cfg["n_routed_experts"], top_k=cfg["num_experts_per_tok"],
                 shared_experts=shared,
                 shared_ffn_hidden=(shared * cfg["moe_intermediate_size"]) if shared else None,
                 first_dense=cfg.get("first_k_dense_replace") or 0,
                 groups=cfg.get("n_group") or 1, topk_groups=cfg.get("topk_group") or 1,
                 norm_topk_prob=bool(cfg.get("norm_topk_prob", False)),
                 score_function=cfg.get("scoring_func") or "softmax",
                 expert_bias=cfg.get("topk_method") == "noaux_tc"),
    )


def _llama4_text(cfg: dict) -> dict:
    """Llama-4 text (``modeling_llama4.py``): MoE layers (``moe_layers`` or every
    ``interleave_moe_layer_step``-th) with ``num_local_experts`` experts of ``intermediate_size``
    plus one shared expert of the same width, dense layers of ``intermediate_size_mlp``; the
    weightless L2 q/k norm; RoPE layers use chunked attention (``attention_chunk_size``), the
    no-RoPE ones (every 4th) full attention. transformers' experts kernel computes every expert
    on every token; training stacks route top_k, which is what is planned (set
    ``moe.all_experts_compute`` to plan the HF kernel)."""
    out = _llama_like(cfg, head_dim=128)
    L = cfg["num_hidden_layers"]
    step = cfg.get("interleave_moe_layer_step") or 1
    moe_ids = cfg.get("moe_layers")
    if moe_ids is None:
        moe_ids = list(range(step - 1, L, step))
    # Llama4TextConfig's defaults: RoPE (chunked) on every layer but each no_rope_layer_interval-th (4),
    # 8192-token chunks; a config without these keys planned full attention on every layer
    every = cfg.get("no_rope_layer_interval", 4)
    nope = cfg.get("no_rope_layers") or [int((i + 1) % every != 0) for i in range(L)]
    chunk = cfg.get("attention_chunk_size", 8192)
    out.update(
        family="moe", dense_ffn_hidden=cfg.get("intermediate_size_mlp"),
        moe=dict(experts=cfg["num_local_experts"], top_k=cfg["num_experts_per_tok"], shared_experts=1,
                 shared_ffn_hidden=cfg["intermediate_size"],
                 dense_layers=sorted(set(range(L)) - set(moe_ids))),
        sliding_window=chunk,
        local_layers=(sum(1 for v in nope if v) if chunk else 0),
        local_attention="chunked",
    )
    return out


def _gemma(cfg: dict, qk_norm: str, local, kv_heads: int | None = None) -> dict:
    """Gemma 2/3 (``modeling_gemma2.py`` / ``modeling_gemma3.py``): GeGLU, four norms per layer
    (pre/post attention and MLP), embeddings tied by default, local sliding-window and global
    layers; Gemma 3 adds q/k norm. Soft-capping and the embedding scale cost no parameters."""
    out = _llama_like(cfg, head_dim=256, kv_heads=kv_heads)
    out.update(
        mlp="geglu", layer_norms=4, qk_norm=qk_norm,
        tied_embeddings=bool(cfg.get("tie_word_embeddings", True)),
        # Gemma2Config / Gemma3TextConfig default to a 4096-token window when the key is absent
        sliding_window=cfg.get("sliding_window", 4096) or None,
        local_layers=_local_layers(cfg, local) if cfg.get("sliding_window", 4096) else 0,
    )
    return out


def _gpt_oss(cfg: dict) -> dict:
    """gpt-oss (``modeling_gpt_oss.py``): biases on q,k,v,o, attention sinks, alternating
    sliding/full layers, ``num_local_experts`` experts with biases and a router with bias."""
    out = _llama_like(cfg, head_dim=64)
    out.update(
        family="moe", qkv_bias=True, linear_bias=True, attention_sinks=True,
        moe=dict(experts=cfg["num_local_experts"], top_k=cfg["num_experts_per_tok"], router_bias=True),
        sliding_window=cfg.get("sliding_window", 128) or None,  # GptOssConfig's default
        local_layers=_local_layers(cfg, lambda i: i % 2 == 0) if cfg.get("sliding_window", 128) else 0,
        glu_clamp=cfg.get("swiglu_limit"),
    )
    return out


def _olmo2(cfg: dict) -> dict:
    """OLMo 2 (``modeling_olmo2.py``): q_norm/k_norm over the whole projections, the two norms
    after attention and MLP (post-norm inside the residual) instead of before."""
    out = _llama_like(cfg)
    out["qk_norm"] = "full"
    return out


def _phi3(cfg: dict, default_window: int | None = None, kv_heads: int | None = None) -> dict:
    """Phi-3 (``modeling_phi3.py``): fused qkv_proj and gate_up_proj hold the same weights as
    Llama's separate linears; ``sliding_window`` masks every layer (as in Mistral,
    ``modeling_mistral.py``: Mistral-7B v0.1's 4096)."""
    out = _llama_like(cfg, kv_heads=kv_heads)
    w = cfg.get("sliding_window", default_window)  # the config class's default when the key is absent
    if w:
        out.update(sliding_window=w, local_layers=cfg["num_hidden_layers"])
    return out


#: transformers ``layers_block_type`` names -> the hybrid_pattern symbol (configuration_nemotron_h.py
#: ``_pattern_to_list``: M mamba, * attention, - mlp, E moe)
_NEMOTRON_H_KINDS = {"mamba": "M", "attention": "*", "full_attention": "*", "mlp": "-", "moe": "E"}
#: HF ``mlp_hidden_act`` -> ModelSpec.mlp (non-gated MLPs: NemotronHMLP is up_proj, act, down_proj)
_NEMOTRON_H_ACT = {"relu2": "relu2", "relu": "relu", "gelu": "gelu", "gelu_pytorch_tanh": "gelu"}


def _nemotron_h(cfg: dict) -> dict:
    """Nemotron-H / Nemotron 3 (transformers ``modeling_nemotron_h.py``): one norm + one mixer per
    layer as ``hybrid_override_pattern`` (or ``layers_block_type``) lists them; attention without
    RoPE or biases (NemotronHAttention's projections are built with ``bias=False``), non-gated MLPs (``mlp_hidden_act``), MoE of ``n_routed_experts`` + a shared expert
    of ``moe_shared_expert_intermediate_size`` with a sigmoid router whose correction bias is a
    buffer (``NemotronHTopkRouter``), the Mamba-2 mixer of ``NemotronHMamba2Mixer``; LatentMoE
    (``moe_latent_size``, Nemotron 3 Super: ``MoESpec.latent_size``). The MTP block
    (``num_nextn_predict_layers``) transformers does not build; how many depths Megatron runs
    over it is the recipe's (``mtp_num_layers``), so it is refused here: set ``mtp_layers``."""
    unmodelled = [k for k, bad in (("mlp_bias", cfg.get("mlp_bias")),
                                   ("use_bias", cfg.get("use_bias")), ("use_conv_bias", cfg.get("use_conv_bias") is False),
                                   ("num_nextn_predict_layers", cfg.get("num_nextn_predict_layers"))) if bad]
    if unmodelled:  # MTP, or biases the counts do not hold
        raise InputError("model.hf_config", f"nemotron_h: {unmodelled[0]} = {clip(cfg[unmodelled[0]])} is not modelled")
    pat = cfg.get("hybrid_override_pattern")
    if pat is not None and not isinstance(pat, str):
        raise InputError("model.hf_config.hybrid_override_pattern", f"must be a string, got {clip(pat)}")
    if not pat:
        kinds = cfg["layers_block_type"]
        bad = next((k for k in kinds if not isinstance(k, str) or k not in _NEMOTRON_H_KINDS), None) \
            if isinstance(kinds, list) else kinds
        if not isinstance(kinds, list) or bad is not None:
            raise InputError("model.hf_config.layers_block_type", f"{clip(bad)} is not a layer kind; a list of "
                                                                   f"{', '.join(_NEMOTRON_H_KINDS)}")
        pat = "".join(_NEMOTRON_H_KINDS[k] for k in kinds)
    n = cfg.get("num_hidden_layers")
    if n is not None and n != len(pat):  # HF NemotronHConfig: layers_block_type has num_hidden_layers entries
        raise InputError("model.hf_config.num_hidden_layers", f"{n} but the layer pattern has {len(pat)} layers")
    act = cfg.get("mlp_hidden_act", "relu2")
    if not isinstance(act, str) or act not in _NEMOTRON_H_ACT:
        raise InputError("model.hf_config.mlp_hidden_act", f"{clip(act)} is not modelled; one of "
                                                            f"{', '.join(_NEMOTRON_H_ACT)}")
    act = _NEMOTRON_H_ACT[act]
    out = dict(family="decoder", hybrid_pattern=pat, hidden=cfg["hidden_size"], heads=cfg["num_attention_heads"],
               kv_heads=cfg.get("num_key_value_heads") or cfg["num_attention_heads"], vocab=cfg["vocab_size"],
               mlp=act, norm="rmsnorm", position="none", tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
               mamba=dict(heads=cfg["mamba_num_heads"], head_dim=cfg["mamba_head_dim"], groups=cfg["n_groups"],
                          d_state=cfg["ssm_state_size"], d_conv=cfg["conv_kernel"], expand=cfg.get("expand", 2),
                          chunk_size=cfg.get("chunk_size", 128)) if "M" in pat else None)
    if cfg.get("head_dim"):
        out["head_dim"] = cfg["head_dim"]
    if "E" in pat:
        out.update(family="moe", ffn_hidden=cfg["moe_intermediate_size"], dense_ffn_hidden=cfg["intermediate_size"],
                   moe=dict(experts=cfg["n_routed_experts"], top_k=cfg["num_experts_per_tok"],
                            shared_experts=cfg.get("n_shared_experts", 1),
                            shared_ffn_hidden=cfg["moe_shared_expert_intermediate_size"],
                            norm_topk_prob=bool(cfg.get("norm_topk_prob", True)),
                            score_function="sigmoid", expert_bias=True))
        if cfg.get("moe_latent_size"):
            out["moe"]["latent_size"] = cfg["moe_latent_size"]
    else:
        out["ffn_hidden"] = cfg["intermediate_size"]
    return out


HF_MAPPERS = {
    "nemotron_h": _nemotron_h,
    "llama": _llama_like,
    "mistral": lambda c: _phi3(c, 4096, kv_heads=8),  # Llama's weights; sliding_window on every layer (MistralConfig: 4096)
    "qwen2": _qwen2,
    "qwen3": _qwen3,
    "qwen3_moe": _qwen3_moe,
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "llama4_text": _llama4_text,
    "gemma2": lambda c: _gemma(c, "none", lambda i: i % 2 == 0, kv_heads=4),
    "gemma3_text": lambda c: _gemma(c, "head", lambda i: (i + 1) % c.get("sliding_window_pattern", 6) != 0),
    "gpt_oss": _gpt_oss,
    "olmo2": _olmo2,
    "phi3": _phi3,
    "gpt2": _gpt2,
    "mixtral": _mixtral,
    "qwen2_moe": _qwen2_moe,
    "bert": _bert,
}


def looks_like_hf_config(d: dict) -> bool:
    return "model_type" in d and ("architectures" in d or "vocab_size" in d)
