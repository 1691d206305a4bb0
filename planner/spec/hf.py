"""Hugging Face ``config.json`` to ModelSpec fields, one mapper per ``model_type`` (a registry).

The files are read locally, never downloaded. Each mapping was checked against the HF modelling
code's parameter count on the meta device (tests/data/hf_params.json, made by
tests/make_hf_params.py).
"""
from __future__ import annotations

from pathlib import Path

from planner.errors import InputError, clip, read_json_object


def load_hf_config(path: str | Path, field: str = "model.hf_config") -> dict:
    """Read a local Hugging Face ``config.json`` (never downloaded) into ModelSpec fields."""
    cfg = read_json_object(path, field)
    return hf_config_to_fields(cfg, field)


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
    for key in _POSITIVE_INTS:
        v = cfg.get(key)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
            raise InputError(f"{field}.{key}", f"must be a positive integer, got {clip(v)}")
    for key in _NONNEG_INTS:
        v = cfg.get(key)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
            raise InputError(f"{field}.{key}", f"must be a non-negative integer, got {clip(v)}")
    for key in _BOOLS:
        v = cfg.get(key)
        if v is not None and not isinstance(v, bool):
            raise InputError(f"{field}.{key}", f"must be true or false, got {clip(v)}")
    try:
        out = mapper(cfg)
    except KeyError as e:
        raise InputError(field, f"config.json lacks {e.args[0]!r} needed for model_type {clip(mtype)}") from None
    out.setdefault("name", cfg.get("_name_or_path") or mtype)
    return out


# the config.json keys the mappers read as sizes: positive integers (a 0 head count divided by
# zero, a string hidden size reached the arithmetic as an internal error)
_POSITIVE_INTS = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size",
                  "num_key_value_heads", "head_dim", "n_embd", "n_layer", "n_head", "n_inner", "n_positions",
                  "max_position_embeddings", "num_local_experts", "num_experts_per_tok", "moe_intermediate_size",
                  "num_experts", "shared_expert_intermediate_size", "decoder_sparse_step")
_NONNEG_INTS = ("type_vocab_size",)
_BOOLS = ("tie_word_embeddings", "attention_bias", "mlp_bias")


def _llama_like(cfg: dict, qkv_bias: bool = False) -> dict:
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    return dict(
        family="decoder", layers=cfg["num_hidden_layers"], hidden=h, heads=nh,
        kv_heads=cfg.get("num_key_value_heads") or nh, head_dim=cfg.get("head_dim") or h // nh,
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
    out = _llama_like(cfg)
    out.update(family="moe", moe=dict(experts=cfg["num_local_experts"], top_k=cfg["num_experts_per_tok"]))
    return out


def _qwen2_moe(cfg: dict) -> dict:
    if cfg.get("decoder_sparse_step", 1) != 1 or cfg.get("mlp_only_layers"):
        # the dense layers would use intermediate_size, the MoE ones moe_intermediate_size;
        # ModelSpec has one ffn_hidden, so refuse rather than miscount
        raise InputError("model.hf_config", "qwen2_moe with dense layers (decoder_sparse_step != 1 "
                         "or mlp_only_layers) is not supported")
    out = _llama_like(cfg, qkv_bias=True)
    out.update(
        family="moe", ffn_hidden=cfg["moe_intermediate_size"],
        moe=dict(
            experts=cfg["num_experts"], top_k=cfg["num_experts_per_tok"], shared_experts=1,
            shared_ffn_hidden=cfg["shared_expert_intermediate_size"], shared_expert_gate=True,
        ),
    )
    return out


def _gpt2(cfg: dict) -> dict:
    h = cfg["n_embd"]
    return dict(
        family="decoder", layers=cfg["n_layer"], hidden=h, heads=cfg["n_head"],
        ffn_hidden=cfg.get("n_inner") or 4 * h, vocab=cfg["vocab_size"], mlp="gelu",
        norm="layernorm", tied_embeddings=True, qkv_bias=True, linear_bias=True,
        position="learned", max_positions=cfg["n_positions"],
    )


def _bert(cfg: dict) -> dict:
    h = cfg["hidden_size"]
    return dict(
        family="encoder", layers=cfg["num_hidden_layers"], hidden=h,
        heads=cfg["num_attention_heads"], ffn_hidden=cfg["intermediate_size"],
        vocab=cfg["vocab_size"], mlp="gelu", norm="layernorm", tied_embeddings=True,
        qkv_bias=True, linear_bias=True, position="learned",
        max_positions=cfg["max_position_embeddings"], type_vocab=cfg.get("type_vocab_size", 2),
        mlm_head=True,
    )


HF_MAPPERS = {
    "llama": _llama_like,
    "mistral": _llama_like,
    "qwen2": lambda c: _llama_like(c, qkv_bias=True),
    "qwen3": _llama_like,
    "gpt2": _gpt2,
    "mixtral": _mixtral,
    "qwen2_moe": _qwen2_moe,
    "bert": _bert,
}


def looks_like_hf_config(d: dict) -> bool:
    return "model_type" in d and ("architectures" in d or "vocab_size" in d)
