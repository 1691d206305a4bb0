"""Shipped model presets: architecture fields as published in each model's config.json / paper.

Sources: the models' Hugging Face ``config.json`` files (Llama 2/3/3.1, Mistral, Mixtral, Qwen2.5,
GPT-2, BERT), Brown et al. 2020 Table 2.1 (GPT-3), torchvision's model docs for ResNet-50 and
ViT-B/16 (params; forward FLOPs = 2 x the published GMACs at 224x224). Generic models'
activation bytes per sample were measured with ``saved_tensors_hooks`` (see
tests/make_generic_presets.py) in fp32 at 224x224.
"""
from __future__ import annotations
from planner.spec.params import count_params
from planner.spec.schema import ModelSpec


def _llama(layers, hidden, heads, kv, ffn, vocab, tied=False, **kw):
    return dict(family="decoder", layers=layers, hidden=hidden, heads=heads, kv_heads=kv,
                ffn_hidden=ffn, vocab=vocab, mlp="swiglu", norm="rmsnorm", tied_embeddings=tied,
                position="rope", **kw)


def _gpt(layers, hidden, heads, vocab=50257, positions=1024):
    return dict(family="decoder", layers=layers, hidden=hidden, heads=heads, ffn_hidden=4 * hidden,
                vocab=vocab, mlp="gelu", norm="layernorm", tied_embeddings=True, qkv_bias=True,
                linear_bias=True, position="learned", max_positions=positions)


def _bert(layers, hidden, heads, ffn):
    return dict(family="encoder", layers=layers, hidden=hidden, heads=heads, ffn_hidden=ffn,
                vocab=30522, mlp="gelu", norm="layernorm", tied_embeddings=True, qkv_bias=True,
                linear_bias=True, position="learned", max_positions=512, type_vocab=2,
                mlm_head=True)


PRESETS: dict[str, dict] = {
    "gpt2": _gpt(12, 768, 12),
    "gpt2-medium": _gpt(24, 1024, 16),
    "gpt2-large": _gpt(36, 1280, 20),
    "gpt2-xl": _gpt(48, 1600, 25),
    "gpt3-175b": _gpt(96, 12288, 96, positions=2048),
    "llama2-7b": _llama(32, 4096, 32, 32, 11008, 32000),
    "llama2-13b": _llama(40, 5120, 40, 40, 13824, 32000),
    "llama2-70b": _llama(80, 8192, 64, 8, 28672, 32000),
    "llama3-8b": _llama(32, 4096, 32, 8, 14336, 128256),
    "llama3-70b": _llama(80, 8192, 64, 8, 28672, 128256),
    "llama3.1-8b": _llama(32, 4096, 32, 8, 14336, 128256),
    "llama3.1-70b": _llama(80, 8192, 64, 8, 28672, 128256),
    "llama3.1-405b": _llama(126, 16384, 128, 8, 53248, 128256),
    "mistral-7b": _llama(32, 4096, 32, 8, 14336, 32000),
    "mixtral-8x7b": dict(_llama(32, 4096, 32, 8, 14336, 32000), family="moe",
                         moe=dict(experts=8, top_k=2)),
    "mixtral-8x22b": dict(_llama(56, 6144, 48, 8, 16384, 32000), family="moe",
                          moe=dict(experts=8, top_k=2)),
    "qwen2.5-0.5b": _llama(24, 896, 14, 2, 4864, 151936, tied=True, qkv_bias=True),
    "qwen2.5-1.5b": _llama(28, 1536, 12, 2, 8960, 151936, tied=True, qkv_bias=True),
    "qwen2.5-7b": _llama(28, 3584, 28, 4, 18944, 152064, qkv_bias=True),
    "qwen2.5-14b": _llama(48, 5120, 40, 8, 13824, 152064, qkv_bias=True),
    "qwen2.5-32b": _llama(64, 5120, 40, 8, 27648, 152064, qkv_bias=True),
    "qwen2.5-72b": _llama(80, 8192, 64, 8, 29568, 152064, qkv_bias=True),
    "bert-base": _bert(12, 768, 12, 3072),
    "bert-large": _bert(24, 1024, 16, 4096),
    # generic (non-transformer-spec) vision models, 224x224 images: FLOPs (FlopCounterMode, fwd)
    # and bytes autograd saves per sample in fp32 (saved_tensors_hooks), measured on torchvision's
    # models by tests/make_generic_presets.py -> tests/data/generic_presets.json
    "resnet50": dict(family="generic", params=25_557_032, fwd_flops_per_sample=8_178_368_512,
                     activation_bytes_per_sample=85_413_632, input_bytes_per_sample=3 * 224 * 224 * 4),
    "vit-b16": dict(family="generic", params=86_567_656, fwd_flops_per_sample=35_127_656_448,
                    activation_bytes_per_sample=117_558_568, input_bytes_per_sample=3 * 224 * 224 * 4),
}
for _name, _p in PRESETS.items():
    _p.setdefault("name", _name)


def preset_summaries() -> list[dict]:
    """One row per preset: name, family, parameter count and shape (``planner presets``)."""
    rows = []
    for name, fields in PRESETS.items():
        m = ModelSpec(**fields)
        rows.append(dict(preset=name, family=m.family, params=int(count_params(m).total), layers=m.layers,
                         hidden=m.hidden, heads=m.heads, kv_heads=m.kv_heads, vocab=m.vocab))
    return rows
