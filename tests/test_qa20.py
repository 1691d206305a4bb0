"""QA pass 20: "bring your own model" — a Hugging Face ``config.json`` (tiny and real size), a bare model
section and the presets, checked as an ML engineer would against the real modelling code (transformers'
config classes and their defaults) and the published parameter counts, and hostile config files — each
defect with the check that failed before its fix."""
from __future__ import annotations

import json

import pytest

from planner.errors import InputError
from planner.spec import load_job_dict
from planner.spec.params import count_params
from planner.workloads.serving_memory import kv_bytes_per_sequence

LLAMA = {"model_type": "llama", "vocab_size": 1000, "hidden_size": 64, "num_attention_heads": 4,
         "num_key_value_heads": 4, "num_hidden_layers": 4, "intermediate_size": 128}
DSV3 = {"model_type": "deepseek_v3", "vocab_size": 1000, "hidden_size": 64, "num_attention_heads": 4,
        "num_hidden_layers": 3, "intermediate_size": 128, "moe_intermediate_size": 32, "n_routed_experts": 8,
        "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1, "q_lora_rank": 32,
        "kv_lora_rank": 16, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16, "n_group": 2,
        "topk_group": 1}
GEMMA3 = {"model_type": "gemma3_text", "vocab_size": 1000, "hidden_size": 64, "num_attention_heads": 4,
          "num_hidden_layers": 6, "intermediate_size": 128, "head_dim": 32, "sliding_window": 16}
LLAMA4 = {**LLAMA, "model_type": "llama4_text", "num_hidden_layers": 8, "num_local_experts": 4,
          "num_experts_per_tok": 1, "intermediate_size_mlp": 256}
QWEN3_MOE = {**LLAMA, "model_type": "qwen3_moe", "num_experts": 4, "num_experts_per_tok": 2,
             "moe_intermediate_size": 32}
QWEN2_MOE = {**LLAMA, "model_type": "qwen2_moe", "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
             "shared_expert_intermediate_size": 64}


def _model(cfg: dict):
    return load_job_dict(cfg).model


@pytest.mark.parametrize("base, key, value", [
    # reached the arithmetic: TypeError / ZeroDivisionError as an internal error
    (DSV3, "qk_nope_head_dim", "16"),
    (GEMMA3, "sliding_window_pattern", 0),
    (GEMMA3, "sliding_window_pattern", "6"),
    (LLAMA4, "interleave_moe_layer_step", "2"),
    # "1" * 32: a 32-digit shared-expert width, refused only later as an unrelated training.tokens bound
    (DSV3, "n_shared_experts", "1"),
    # read quietly as another value
    (DSV3, "n_group", 0),
    (DSV3, "n_group", "2"),
    (DSV3, "first_k_dense_replace", "1"),
    (DSV3, "q_lora_rank", "32"),
    ({**LLAMA, "model_type": "mistral"}, "sliding_window", "4096"),
    (GEMMA3, "sliding_window", "16"),
    (GEMMA3, "layer_types", "sliding_attention"),
    (GEMMA3, "layer_types", ["sliding_attention"]),  # 1 entry for 6 layers
    (GEMMA3, "layer_types", ["linear"] * 6),
    (QWEN3_MOE, "mlp_only_layers", "0"),
    (LLAMA4, "no_rope_layers", "1"),
    (LLAMA4, "attention_chunk_size", "16"),
    ({**LLAMA, "model_type": "gpt_oss", "num_local_experts": 4, "num_experts_per_tok": 2}, "swiglu_limit", "7"),
    ({**LLAMA, "model_type": "gpt_oss", "num_local_experts": 4, "num_experts_per_tok": 2}, "swiglu_limit",
     float("inf")),  # a YAML .inf
    (LLAMA, "hidden_act", 3),
])
def test_odd_config_values_are_refused_by_name(base, key, value):
    """Every number, list and name a mapper reads is checked before it is used, as the sizes were: a bad one is
    ``error: model.<key>: ...``, never a traceback or a quietly different model."""
    with pytest.raises(InputError) as e:
        _model({**base, key: value})
    assert e.value.field == f"model.{key}", str(e.value)


def test_odd_config_one_line_exit_2(tmp_path, cli):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({**DSV3, "qk_nope_head_dim": "16"}))
    code, out, err = cli("estimate", p)
    lines = [ln for ln in (out + err).splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: model.qk_nope_head_dim: "), (out, err)


def test_gpt2_and_bert_honour_tie_word_embeddings():
    """GPT2Config and BertConfig tie by default, and their heads stay untied when the config says
    ``tie_word_embeddings: false`` (transformers ties only ``if config.tie_word_embeddings``). The mapper
    forced the tie: a V x h head (here 1000 x 64 = 64,000 parameters) went uncounted."""
    gpt2 = {"model_type": "gpt2", "vocab_size": 1000, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128}
    tied, untied = count_params(_model(gpt2)), count_params(_model({**gpt2, "tie_word_embeddings": False}))
    assert untied.total - tied.total == 1000 * 64
    bert = {"model_type": "bert", "vocab_size": 1000, "hidden_size": 64, "num_attention_heads": 4,
            "num_hidden_layers": 2, "intermediate_size": 128, "max_position_embeddings": 128}
    assert (count_params(_model({**bert, "tie_word_embeddings": False})).total
            - count_params(_model(bert)).total) == 1000 * 64


def test_mixtral_sliding_window_masks_every_layer():
    """MixtralAttention takes ``config.sliding_window`` on every layer as Mistral's does; the Mixtral mapper
    dropped it, so a windowed Mixtral kept the whole context in its KV cache."""
    m = _model({**LLAMA, "model_type": "mixtral", "num_local_experts": 4, "num_experts_per_tok": 2,
                "sliding_window": 16})
    assert (m.sliding_window, m.local_layers) == (16, 4)
    # 4 layers x 2 (K, V) x 4 heads x 16 dims x 2 bytes = 1 KiB a token; at 64 tokens only the last 16 are kept
    assert kv_bytes_per_sequence(m, "bf16", 64) == 1024 * 16
    assert _model({**LLAMA, "model_type": "mixtral", "num_local_experts": 4, "num_experts_per_tok": 2}).sliding_window is None


@pytest.mark.parametrize("base", [{**LLAMA, "model_type": "qwen2"}, {**LLAMA, "model_type": "qwen3"}])
def test_qwen_use_sliding_window(base):
    """Qwen2/Qwen3 (``configuration_qwen2.py`` / ``configuration_qwen3.py``): with ``use_sliding_window`` the
    window holds on layers ``i >= max_window_layers`` (or as ``layer_types`` lists them); without it none. The
    mappers ignored all three keys, so a windowed Qwen was planned with full attention on every layer."""
    on = {**base, "use_sliding_window": True, "sliding_window": 16, "max_window_layers": 1}
    m = _model(on)
    assert (m.sliding_window, m.local_layers) == (16, 3)
    types = ["full_attention", "sliding_attention", "full_attention", "sliding_attention"]
    assert _model({**on, "layer_types": types}).local_layers == 2
    off = _model({**on, "use_sliding_window": False})  # the published Qwen configs: sliding_window kept, unused
    assert off.sliding_window is None and off.local_layers == 0


def test_qwen_moe_sliding_window_rules():
    """The MoE variants have their own rules: Qwen3MoeAttention windows every layer (Qwen3MoeConfig has no
    max_window_layers), Qwen2MoeConfig the even layers below ``max_window_layers`` and writes
    ``sliding_window: 0`` when off (a valid saved config, read as no window)."""
    m = _model({**QWEN3_MOE, "use_sliding_window": True, "sliding_window": 16, "max_window_layers": 1})
    assert (m.sliding_window, m.local_layers) == (16, 4)
    m = _model({**QWEN2_MOE, "use_sliding_window": True, "sliding_window": 16, "max_window_layers": 3})
    assert (m.sliding_window, m.local_layers) == (16, 2)  # layers 0 and 2
    off = _model({**QWEN2_MOE, "sliding_window": 0})
    assert (off.sliding_window, off.local_layers) == (None, 0)


@pytest.mark.parametrize("base, head_dim", [
    ({**LLAMA, "model_type": "qwen3"}, 128),  # Qwen3Config.head_dim = 128
    ({**LLAMA, "model_type": "gemma2"}, 256),  # Gemma2Config.head_dim = 256
    ({k: v for k, v in GEMMA3.items() if k != "head_dim"}, 256),  # Gemma3TextConfig.head_dim = 256
    ({**LLAMA, "model_type": "gpt_oss", "num_local_experts": 4, "num_experts_per_tok": 2}, 64),  # GptOssConfig
    (LLAMA4, 128),  # Llama4TextConfig.head_dim = 128
    (QWEN3_MOE, 16),  # Qwen3MoeConfig has none: getattr(config, "head_dim", hidden // heads)
    ({**LLAMA, "model_type": "qwen3", "head_dim": None}, 16),  # an explicit null: hidden / heads
])
def test_absent_head_dim_is_the_config_class_default(base, head_dim):
    """A config.json without ``head_dim`` is built by transformers with the class default, which for Qwen3,
    Gemma, gpt-oss and Llama 4 is not hidden / heads; the mapper always took hidden / heads (here 64 / 4 = 16:
    a Qwen3 attention of 4 x 16 where transformers builds 4 x 128)."""
    assert _model(base).head_dim == head_dim


@pytest.mark.parametrize("model_type, kv", [("mistral", 8), ("mixtral", 8), ("qwen2", 32), ("qwen3", 32),
                                             ("qwen3_moe", 4), ("qwen2_moe", 16), ("gemma2", 4), ("llama", 64),
                                             ("phi3", 64)])
def test_absent_num_key_value_heads_is_the_config_class_default(model_type, kv):
    """MistralConfig builds 8 KV heads when ``num_key_value_heads`` is absent (only an explicit null means the
    heads), Qwen2/Qwen3Config 32, Qwen3MoeConfig 4, Qwen2MoeConfig 16, Gemma2Config 4; the mapper took the
    heads (MHA): a hand-written 64-head Mistral planned 8x its KV cache and 2 x 56 x h x head_dim more
    parameters per layer."""
    cfg = {**LLAMA, "model_type": model_type, "hidden_size": 2048, "num_attention_heads": 64,
           "num_experts": 4, "num_local_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
           "shared_expert_intermediate_size": 64}
    del cfg["num_key_value_heads"]
    assert _model(cfg).kv_heads == kv
    assert _model({**cfg, "num_key_value_heads": None}).kv_heads == 64


def test_absent_num_key_value_heads_default_that_cannot_divide_is_named():
    cfg = {k: v for k, v in LLAMA.items() if k != "num_key_value_heads"}
    with pytest.raises(InputError) as e:
        _model({**cfg, "model_type": "qwen3"})  # 4 heads, Qwen3Config's 32 KV heads
    assert e.value.field == "model.hf_config.num_key_value_heads" and "32" in str(e.value)


def test_qwen2_moe_qkv_bias_key():
    """Qwen2MoeConfig.qkv_bias (default true) decides the q/k/v biases; the mapper always put them in."""
    with_b, without = count_params(_model(QWEN2_MOE)), count_params(_model({**QWEN2_MOE, "qkv_bias": False}))
    assert with_b.total - without.total == 4 * (64 + 2 * 64)  # 4 layers x (q + k + v) biases, no GQA here


def test_llama4_text_class_defaults():
    """Llama4TextConfig without ``no_rope_layers`` / ``attention_chunk_size``: RoPE layers everywhere but every
    4th (``no_rope_layer_interval``), chunked attention over 8192 tokens on them. The mapper read the absent
    keys as no chunked layer at all (full attention on all 8)."""
    m = _model(LLAMA4)
    assert (m.sliding_window, m.local_layers, m.local_attention) == (8192, 6, "chunked")
    assert _model({**LLAMA4, "no_rope_layer_interval": 2}).local_layers == 4
    assert _model({**LLAMA4, "attention_chunk_size": None}).local_layers == 0


@pytest.mark.parametrize("base, window, local", [
    ({**LLAMA, "model_type": "mistral"}, 4096, 4),  # MistralConfig(sliding_window=4096), every layer
    ({**LLAMA, "model_type": "gemma2"}, 4096, 2),  # Gemma2Config(sliding_window=4096), even layers
    ({**GEMMA3, "sliding_window": None}, None, 0),  # an explicit null: no window
    ({k: v for k, v in GEMMA3.items() if k != "sliding_window"}, 4096, 5),  # Gemma3TextConfig: 5 of 6
    ({**LLAMA, "model_type": "gpt_oss", "num_local_experts": 4, "num_experts_per_tok": 2}, 128, 2),  # GptOssConfig
])
def test_window_keys_absent_take_the_config_class_default(base, window, local):
    """A hand-written config.json without ``sliding_window`` builds, in transformers, the class default's
    window; the mappers read the missing key as no window."""
    m = _model(base)
    assert (m.sliding_window, m.local_layers) == (window, local)


def test_bare_model_says_which_architecture_fields_it_filled():
    """examples/bare-model.yaml gives layers, hidden, heads, kv_heads and vocab: ModelSpec fills the MLP width
    (8/3 x 2048 rounded up to 256 = 5632), SwiGLU and an untied head — 38% of its 1,288,275,968 parameters
    (24 x 3 x 2048 x 5632 + the 103M head) — and the assumptions said nothing about them."""
    job = load_job_dict({"layers": 24, "hidden": 2048, "heads": 16, "kv_heads": 4, "vocab": 50304})
    assert count_params(job.model).total == 1_288_275_968
    assert ("model.ffn_hidden defaulted to 5632 (8/3 x hidden rounded up to a multiple of 256), model.mlp to swiglu, "
            "model.tied_embeddings to false") in job.assumptions
    given = load_job_dict({"model": {"layers": 2, "hidden": 64, "heads": 4, "vocab": 100, "ffn_hidden": 128,
                                     "mlp": "gelu", "tied_embeddings": True}})
    assert not any(a.startswith("model.") for a in given.assumptions)
    # a preset or a config.json states its own architecture: nothing to say
    assert not any(a.startswith("model.") for a in load_job_dict({"model": {"preset": "llama3-8b"}}).assumptions)


def test_deepseek_mtp_in_the_config_is_said_not_dropped(tmp_path):
    """A DeepSeek-V3 config.json has ``num_nextn_predict_layers: 1``: transformers builds no MTP module, so the
    mapped count (671,026,404,352, exact) leaves it out — but the run trains it, and the deepseek-v3 preset plans
    it (682,636,472,320). The config path dropped it without a word; it now says so, and ``mtp_layers`` beside
    ``hf_config`` plans it (the preset's count)."""
    from pathlib import Path

    cfg = Path(__file__).parent / "data" / "hf_configs" / "deepseek-v3.json"
    job = load_job_dict({"model": {"hf_config": str(cfg)}})
    assert count_params(job.model).total == 671_026_404_352
    assert any("num_nextn_predict_layers (1)" in a and "model.mtp_layers: 1" in a for a in job.assumptions)
    assert any("num_nextn_predict_layers" in a for a in load_job_dict(json.loads(cfg.read_text())).assumptions)
    with_mtp = load_job_dict({"model": {"hf_config": str(cfg), "mtp_layers": 1}})
    assert count_params(with_mtp.model).total == 682_636_472_320
    assert not any("num_nextn_predict_layers" in a for a in with_mtp.assumptions)


@pytest.mark.parametrize("cfg, key", [
    ({**DSV3, "attention_bias": True}, "attention_bias"),  # q_a / kv_a / o_proj biases: not in the MLA count
    ({"model_type": "gpt2", "vocab_size": 1000, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128,
      "add_cross_attention": True}, "add_cross_attention"),  # GPT2Block's crossattention + ln_cross_attn
])
def test_weights_the_count_cannot_hold_are_refused(cfg, key):
    with pytest.raises(InputError) as e:
        _model(cfg)
    assert e.value.field == f"model.hf_config.{key}"
