"""Shipped model presets: architecture fields as published in each model's config.json / paper.

Sources: the models' Hugging Face ``config.json`` files (Llama 2/3/3.1, Mistral, Mixtral, Qwen2.5,
GPT-2, BERT; Nemotron 3 Nano in tests/data/hf_configs_ssm; Qwen3, Qwen3-MoE, DeepSeek-V2-Lite/V3, Kimi-K2, Llama-4-Scout, Gemma 2/3, gpt-oss,
OLMo 2, Phi-3 as copied in tests/data/hf_configs with their sources in tests/data/README.md), Brown et al. 2020 Table 2.1 (GPT-3), torchvision's model docs for ResNet-50 and
ViT-B/16 (params; forward FLOPs = 2 x the published GMACs at 224x224). Generic models'
activation bytes per sample were measured with ``saved_tensors_hooks`` (see
tests/make_generic_presets.py) in fp32 at 224x224.
"""
from __future__ import annotations
from planner.spec.params import count_params
from planner.spec.schema import ModelSpec


def _llama(layers, hidden, heads, kv, ffn, vocab, tied=False, **kw):
    return dict(dict(family="decoder", layers=layers, hidden=hidden, heads=heads, kv_heads=kv,
                     ffn_hidden=ffn, vocab=vocab, mlp="swiglu", norm="rmsnorm", tied_embeddings=tied,
                     position="rope"), **kw)


def _gpt(layers, hidden, heads, vocab=50257, positions=1024):
    return dict(family="decoder", layers=layers, hidden=hidden, heads=heads, ffn_hidden=4 * hidden,
                vocab=vocab, mlp="gelu", norm="layernorm", tied_embeddings=True, qkv_bias=True,
                linear_bias=True, position="learned", max_positions=positions)


def _bert(layers, hidden, heads, ffn):
    return dict(family="encoder", layers=layers, hidden=hidden, heads=heads, ffn_hidden=ffn,
                vocab=30522, mlp="gelu", norm="layernorm", tied_embeddings=True, qkv_bias=True,
                linear_bias=True, position="learned", max_positions=512, type_vocab=2,
                mlm_head=True)


def _moe(base, dense_ffn, **moe):
    """An MoE preset: ``base``'s ffn_hidden is the expert width, ``dense_ffn`` the dense layers'."""
    out = dict(base, family="moe", moe=moe)
    if dense_ffn:
        out["dense_ffn_hidden"] = dense_ffn
    return out


def _nemotron_h(pattern, hidden, heads, kv, ffn, vocab, mamba_heads, d_state=128, groups=8, mamba_head_dim=64,
                head_dim=128, **kw):
    """A Nemotron-H / Nemotron 3 hybrid (``hybrid_pattern``; planner.spec.hf ``_nemotron_h`` maps the
    same HF config keys): attention without RoPE (Megatron-Bridge MambaModelProvider
    ``position_embedding_type="none"``; HF NemotronHAttention applies none), squared-ReLU MLPs, RMSNorm,
    untied embeddings, the Mamba-2 mixer of ``mamba_heads`` x ``mamba_head_dim``."""
    return dict(dict(family="decoder", hybrid_pattern=pattern, hidden=hidden, heads=heads, kv_heads=kv,
                     head_dim=head_dim, ffn_hidden=ffn, vocab=vocab, mlp="relu2", norm="rmsnorm", position="none",
                     tied_embeddings=False,
                     mamba=dict(heads=mamba_heads, head_dim=mamba_head_dim, groups=groups, d_state=d_state)), **kw)


_MLA_V3 = dict(q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128)

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
    # current families: fields as planner/spec/hf.py maps each model's published config.json
    # (tests/data/hf_configs; counts checked against transformers in tests/test_families.py)
    "qwen3-8b": _llama(36, 4096, 32, 8, 12288, 151936, head_dim=128, qk_norm="head"),
    "qwen3-32b": _llama(64, 5120, 64, 8, 25600, 151936, head_dim=128, qk_norm="head"),
    "qwen3-30b-a3b": _moe(_llama(48, 2048, 32, 4, 768, 151936, head_dim=128, qk_norm="head"),
                          6144, experts=128, top_k=8),
    "qwen3-235b-a22b": _moe(_llama(94, 4096, 64, 4, 1536, 151936, head_dim=128, qk_norm="head"),
                            12288, experts=128, top_k=8),
    # DeepSeek-V3 with its one multi-token-prediction module (DeepSeek-V3 report §2.2), which
    # transformers does not build: 671.0B + 11.6B (the README's "685B")
    "deepseek-v3": _moe(_llama(61, 7168, 128, 128, 2048, 129280, head_dim=192, mla=_MLA_V3, mtp_layers=1),
                        18432, experts=256, top_k=8, shared_experts=1, shared_ffn_hidden=2048,
                        first_dense=3, groups=8, topk_groups=4, score_function="sigmoid", expert_bias=True),
    "deepseek-v2-lite": _moe(_llama(27, 2048, 16, 16, 1408, 102400, head_dim=192,
                                    mla=dict(_MLA_V3, q_lora_rank=None)),
                             10944, experts=64, top_k=6, shared_experts=2, shared_ffn_hidden=2816,
                             first_dense=1, norm_topk_prob=False),
    "kimi-k2": _moe(_llama(61, 7168, 64, 64, 2048, 163840, head_dim=192, mla=_MLA_V3),
                    18432, experts=384, top_k=8, shared_experts=1, shared_ffn_hidden=2048, first_dense=1,
                    score_function="sigmoid", expert_bias=True),
    "llama4-scout": _moe(_llama(48, 5120, 40, 8, 8192, 202048, head_dim=128, sliding_window=8192,
                                local_layers=36, local_attention="chunked"), 16384, experts=16, top_k=1, shared_experts=1,
                         shared_ffn_hidden=8192),
    "gemma2-9b": _llama(42, 3584, 16, 8, 14336, 256000, tied=True, head_dim=256, mlp="geglu",
                        layer_norms=4, sliding_window=4096, local_layers=21),
    "gemma3-12b": _llama(48, 3840, 16, 8, 15360, 262208, tied=True, head_dim=256, mlp="geglu",
                         layer_norms=4, qk_norm="head", sliding_window=1024, local_layers=40),
    "gpt-oss-20b": _moe(_llama(24, 2880, 64, 8, 2880, 201088, head_dim=64, qkv_bias=True, linear_bias=True,
                               attention_sinks=True, sliding_window=128, local_layers=12, glu_clamp=7.0),
                        None, experts=32, top_k=4, router_bias=True),
    "gpt-oss-120b": _moe(_llama(36, 2880, 64, 8, 2880, 201088, head_dim=64, qkv_bias=True, linear_bias=True,
                                attention_sinks=True, sliding_window=128, local_layers=18, glu_clamp=7.0),
                         None, experts=128, top_k=4, router_bias=True),
    "olmo2-7b": _llama(32, 4096, 32, 32, 11008, 100352, qk_norm="full"),
    "phi3-mini": _llama(32, 3072, 32, 32, 8192, 32064, sliding_window=2047, local_layers=32),
    # Nemotron 3 Nano 30B-A3B: nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 config.json (copied in
    # tests/data/hf_configs_ssm; Megatron-Bridge Nemotron3NanoProvider gives the same): 23 Mamba-2 + 23 MoE
    # + 6 attention layers; 128 routed experts of 1856 (top-6, sigmoid router with expert bias) + one shared
    # of 3712
    "nemotron-3-nano-30b-a3b": _nemotron_h("MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME", 2688, 32, 2, 1856,
                                           131072, 64, family="moe",
                                           moe=dict(experts=128, top_k=6, shared_experts=1, shared_ffn_hidden=3712,
                                                    score_function="sigmoid", expert_bias=True)),
    # Nemotron 3 Super 120B-A12B: Megatron-Bridge Nemotron3SuperProvider (models/nemotronh/
    # nemotron_h_provider.py, commit 160cccc) = the nvidia/NVIDIA-Nemotron-3-Super-120B-A12B config.json
    # values other public code checks against (hidden 4096, 88 layers: 40 Mamba-2 + 40 MoE + 8 attention,
    # 32 heads / 2 KV groups of 128, 128 Mamba heads of 64, 512 experts of 2688 top-22 in a 1024 latent,
    # one shared expert of 5376, vocab 131072); MTP: recipes/nemotronh/nemotron_3_super.py
    # ``mtp_num_layers = 2``, ``mtp_hybrid_override_pattern = "*E"``, ``mtp_use_repeated_layer = True``
    "nemotron-3-super-120b-a12b": _nemotron_h(
        "MEMEMEM*EMEMEMEM*EMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEMEM*EMEMEMEM*EMEMEMEME", 4096, 32, 2, 2688,
        131072, 128, family="moe", mtp_layers=2, mtp_repeated=True,
        moe=dict(experts=512, top_k=22, shared_experts=1, shared_ffn_hidden=5376, latent_size=1024,
                 score_function="sigmoid", expert_bias=True)),
    # Nemotron 3.5 Lightning 30B-A3B: Megatron-Bridge recipes/nemotronh/nemotron_3_5_lightning.py builds it
    # from the Nemotron 3 Nano model config (same 52-layer shape) plus MTP ``mtp_num_layers = 2``,
    # ``mtp_hybrid_override_pattern = "*E"``, ``mtp_use_repeated_layer = True``
    "nemotron-3.5-lightning-30b-a3b": _nemotron_h(
        "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME", 2688, 32, 2, 1856, 131072, 64, family="moe",
        mtp_layers=2, mtp_repeated=True,
        moe=dict(experts=128, top_k=6, shared_experts=1, shared_ffn_hidden=3712, score_function="sigmoid",
                 expert_bias=True)),
    # Nemotron-H 8B: Megatron-Bridge NemotronHModelProvider8B (src/megatron/bridge/models/nemotronh/
    # nemotron_h_provider.py): 24 Mamba-2 + 4 attention + 24 MLP layers, 128 Mamba heads, GQA 8 groups
    "nemotron-h-8b": _nemotron_h("M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-", 4096, 32, 8, 21504,
                                 131072, 128),
    # Nemotron-H 56B: nvidia/Nemotron-H-56B-Base-8K config.json (hybrid_override_pattern of 118 layers: 54 Mamba-2
    # + 54 MLP + 10 attention; hidden 8192, intermediate 32768, 64 heads / 8 KV of 128, mamba_num_heads 256 of 64,
    # n_groups 8, ssm_state_size 256, vocab 131072, untied; the values as public code quotes that file) = Megatron-
    # Bridge NemotronHModelProvider56B (models/nemotronh/nemotron_h_provider.py); the layer mix of NVIDIA's
    # Nemotron-H report (arXiv:2504.03624) and model card ("54 Mamba-2, 54 MLP, and 10 Self-Attention layers")
    "nemotron-h-56b": _nemotron_h(
        "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*"
        "-M-M-M-M-M-", 8192, 64, 8, 32768, 131072, 256, d_state=256),
    "bert-base": _bert(12, 768, 12, 3072),
    "bert-large": _bert(24, 1024, 16, 4096),
    # generic (non-transformer-spec) vision models, 224x224 images: FLOPs (FlopCounterMode, fwd)
    # and bytes autograd saves per sample in fp32 (saved_tensors_hooks), measured on torchvision's
    # models by tests/make_generic_presets.py -> tests/data/generic_presets.json
    "resnet50": dict(family="generic", params=25_557_032, fwd_flops_per_sample=8_178_368_512,
                     activation_bytes_per_sample=85_413_632, input_bytes_per_sample=3 * 224 * 224 * 4,
                     # every conv's input + output elements (tests/resnet50_count.py, checked by a test)
                     conv_io_elems_per_sample=21_776_384, param_tensors=161),
    "vit-b16": dict(family="generic", params=86_567_656, fwd_flops_per_sample=35_127_656_448,
                    activation_bytes_per_sample=117_558_568, input_bytes_per_sample=3 * 224 * 224 * 4),
}
#: The longest sequence each preset's published model takes (``ModelSpec.context_length``): its
#: config.json ``max_position_embeddings`` -- what vLLM serves as ``max_model_len`` -- copied in
#: tests/data/hf_configs / hf_configs_ssm where named "config", else the model card / paper named.
#: Learned-position presets (GPT-2/3, BERT) take their table size; models not listed state none
#: (the Nemotron 3 Super / 3.5 Lightning / Nemotron-H providers do not carry one offline).
CONTEXT_LENGTHS: dict[str, int] = {
    **dict.fromkeys(("llama2-7b", "llama2-13b", "llama2-70b"), 4096),  # Llama 2 paper Table 1 ("4k")
    **dict.fromkeys(("llama3-8b", "llama3-70b"), 8192),  # config (llama3-8b.json)
    **dict.fromkeys(("llama3.1-8b", "llama3.1-70b", "llama3.1-405b"), 131072),  # Llama 3.1 model card ("128k")
    "mistral-7b": 32768, "mixtral-8x7b": 32768,  # config
    "mixtral-8x22b": 65536,  # Mistral AI's Mixtral 8x22B announcement ("64K tokens context window")
    "qwen2.5-0.5b": 32768, "qwen2.5-7b": 131072,  # config
    "qwen2.5-1.5b": 32768,  # Qwen2.5-1.5B model card ("Context Length: Full 32,768 tokens")
    **dict.fromkeys(("qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b"), 131072),  # base model cards ("131,072 tokens")
    **dict.fromkeys(("qwen3-8b", "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b"), 40960),  # config
    "deepseek-v3": 163840, "deepseek-v2-lite": 163840,  # config
    "kimi-k2": 131072,  # kimi-k2.json (tests/data/README.md: the K2-Instruct value, not from a quoted file)
    "llama4-scout": 10485760,  # config (the text config quoted in vllm-project/vllm issue #20581)
    "gemma2-9b": 8192, "gemma3-12b": 131072,  # config
    "gpt-oss-20b": 131072, "gpt-oss-120b": 131072,  # config
    "olmo2-7b": 4096, "phi3-mini": 4096,  # config (phi3-mini-4k)
    "nemotron-3-nano-30b-a3b": 262144,  # config (hf_configs_ssm)
}
#: Llama 3.1's rope_scaling (its config.json: llama3 type, factor 8, low/high frequency factors 1 / 4, trained at
#: 8192; as zyzshishui/slime scripts/models/llama3.1-8B.sh writes it for Megatron-LM: --rotary-base 500000
#: --use-rope-scaling, factor 8)
_LLAMA31_SCALING = dict(type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_positions=8192)
#: Each RoPE preset's (``rope_theta``, norm epsilon, ``rope_scaling``) and each other preset's norm epsilon, as its
#: config.json states them -- copied in tests/data/hf_configs / hf_configs_ssm where marked "config" (read back by
#: tests/test_rope.py), else the public code named. What a launch script writes (planner.present.emit
#: ``rope_flags``): without them Megatron-LM trains every model at --rotary-base 10000, --norm-epsilon 1e-5.
#: Presets absent here state neither (GPT-3; the Nemotron-H / Nemotron 3 Super / 3.5 Lightning providers carry
#: none offline): the launcher's defaults, which the script header says.
ROPE_AND_EPS: dict[str, tuple[float | None, float | None, dict | None]] = {
    # LlamaConfig's default base (Llama 2 configs state none) and their rms_norm_eps 1e-5 (as
    # riccardomusmeci/mlx-llm's llama-2-7b-chat entry quotes it)
    **dict.fromkeys(("llama2-7b", "llama2-13b", "llama2-70b"), (10000.0, 1e-5, None)),
    **dict.fromkeys(("llama3-8b", "llama3-70b"), (500000.0, 1e-5, None)),  # config (llama3-8b.json)
    **dict.fromkeys(("llama3.1-8b", "llama3.1-70b", "llama3.1-405b"), (500000.0, 1e-5, _LLAMA31_SCALING)),
    "mistral-7b": (10000.0, 1e-5, None), "mixtral-8x7b": (1e6, 1e-5, None),  # config
    # Mixtral-8x22B config.json as a public serving test quotes it for "mixtral-8x22b" (hidden 6144, 56 layers,
    # rope_theta 1000000, rms_norm_eps 1e-05; found with find_string, file id 22133831111)
    "mixtral-8x22b": (1e6, 1e-5, None),
    **dict.fromkeys(("qwen2.5-0.5b", "qwen2.5-7b"), (1e6, 1e-6, None)),  # config
    # Qwen2.5 1.5B / 14B / 32B / 72B: rope_theta 1e6 as every Qwen2.5 config; rms_norm_eps as a public C++
    # trainer's Qwen2.5 presets quote them (create_qwen25_config: 1e-6 up to 7B, 1e-5 from 14B)
    "qwen2.5-1.5b": (1e6, 1e-6, None),
    **dict.fromkeys(("qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b"), (1e6, 1e-5, None)),
    **dict.fromkeys(("qwen3-8b", "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b"), (1e6, 1e-6, None)),  # config
    # config: YaRN factor 40 over 4096 (DeepSeek-V2-Lite, V3), 32 (Kimi-K2, gpt-oss); ramp bounds beta_fast / beta_slow
    # 32 / 1 (Kimi-K2: 1 / 1); attention temperature mscale / mscale_all_dim 1 / 1 (V3, Kimi-K2), 0.707 / 0.707
    # (V2-Lite), none in gpt-oss's config
    "deepseek-v3": (10000.0, 1e-6, dict(type="yarn", factor=40.0, original_max_positions=4096, beta_fast=32.0,
                                        beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0)),
    "deepseek-v2-lite": (10000.0, 1e-6, dict(type="yarn", factor=40.0, original_max_positions=4096, beta_fast=32.0,
                                             beta_slow=1.0, mscale=0.707, mscale_all_dim=0.707)),
    "kimi-k2": (50000.0, 1e-5, dict(type="yarn", factor=32.0, original_max_positions=4096, beta_fast=1.0, beta_slow=1.0,
                                    mscale=1.0, mscale_all_dim=1.0)),
    **dict.fromkeys(("gpt-oss-20b", "gpt-oss-120b"),
                    (150000.0, 1e-5, dict(type="yarn", factor=32.0, original_max_positions=4096, beta_fast=32.0,
                                          beta_slow=1.0))),
    "llama4-scout": (500000.0, 1e-5, dict(type="llama3", factor=16.0, low_freq_factor=1.0, high_freq_factor=1.0,
                                          original_max_positions=8192)),  # config
    "gemma2-9b": (10000.0, 1e-6, None),  # config
    # config: the global layers' base and linear scaling (the local layers' rope_local_base_freq: ROPE_LOCAL)
    "gemma3-12b": (1e6, 1e-6, dict(type="linear", factor=8.0)),
    "olmo2-7b": (500000.0, 1e-6, None), "phi3-mini": (10000.0, 1e-5, None),  # config
    # no RoPE: the norm epsilon only (config: gpt2.json layer_norm_epsilon, bert-base-uncased.json layer_norm_eps,
    # nemotron-3-nano-30b-a3b.json layer_norm_epsilon)
    **dict.fromkeys(("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"), (None, 1e-5, None)),
    **dict.fromkeys(("bert-base", "bert-large"), (None, 1e-12, None)),
    "nemotron-3-nano-30b-a3b": (None, 1e-5, None),
}
#: the sliding-window layers' own RoPE base, as its config.json (tests/data/hf_configs/gemma3-12b-text.json
#: ``rope_local_base_freq`` 10000; ModelSpec.rope_local_base_freq)
ROPE_LOCAL = {"gemma3-12b": 10000.0}
#: the MoE presets' HF ``model_type`` (their config.json's; ModelSpec.hf_model_type): which transformers plans the
#: HF-code stacks run (planner.model.moe ``HF_EP_PLANS``, ``HF_TP_PLANS``). Kimi-K2's own config names its remote code, left unset
HF_MODEL_TYPES = {**dict.fromkeys(("mixtral-8x7b", "mixtral-8x22b"), "mixtral"),
                  **dict.fromkeys(("qwen3-30b-a3b", "qwen3-235b-a22b"), "qwen3_moe"),
                  "deepseek-v3": "deepseek_v3", "deepseek-v2-lite": "deepseek_v2", "llama4-scout": "llama4_text",
                  **dict.fromkeys(("gpt-oss-20b", "gpt-oss-120b"), "gpt_oss")}
for _name, _p in PRESETS.items():
    _p.setdefault("name", _name)
    if _name in HF_MODEL_TYPES:
        _p.setdefault("hf_model_type", HF_MODEL_TYPES[_name])
    if _name in ROPE_LOCAL:
        _p.setdefault("rope_local_base_freq", ROPE_LOCAL[_name])
    if _name in CONTEXT_LENGTHS:
        _p.setdefault("context_length", CONTEXT_LENGTHS[_name])
    if _name in ROPE_AND_EPS:
        _theta, _eps, _scaling = ROPE_AND_EPS[_name]
        _p.setdefault("norm_eps", _eps)
        if _theta is not None:
            _p.setdefault("rope_theta", _theta)
            _p.setdefault("rope_scaling", _scaling)


def preset_summaries() -> list[dict]:
    """One row per preset: name, family, parameter count and shape (``planner presets``)."""
    rows = []
    for name, fields in PRESETS.items():
        m = ModelSpec(**fields)
        rows.append(dict(preset=name, family=m.family, params=int(count_params(m).nominal[0]), layers=m.layers,
                         hidden=m.hidden, heads=m.heads, kv_heads=m.kv_heads, vocab=m.vocab))
    return rows
