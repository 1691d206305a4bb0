"""Hostile input where the fuzzers had not been (fuzz48), end to end through the CLI: the *values* of a Hugging Face
``config.json`` (``planner estimate config.json``, every shipped test config of every mapped ``model_type``, any key a
mapper reads set to JSON null, 0, -1, 2^63, 30 and 400 digits, 1e308, NaN, Infinity, text, lists, objects, nested
lists, escapes; ``rope_scaling``'s entries too) and every ``training.framework`` option of the job schema (walked from
``FrameworkSpec``, so a new option is fuzzed too) given the wrong type on each stack kind. Fuzz 44 reached a
config.json's *path* and test_fuzz_new_inputs.py the nemotron_h keys; test_fuzz_cli.py drew 7 framework options.

The outcome rules are tests/test_fuzz_cli.py's (``check_outcome``: exit 0 with strict JSON and sane numbers, or one line
``error: <field>: <message>``, exit 2; no traceback, nothing left behind).

Found by it (fixed at the root, each pinned below; docs/qa_log.md "Fuzz 48"): a key a family needs given as JSON null
(``hidden_size: null``, ``qk_nope_head_dim: null``) reached the mapper's arithmetic as an internal TypeError; a
30-digit integer passed the ``< math.inf`` checks of ``rope_theta``, ``rope_local_base_freq`` and ``rope_scaling.factor``
and overflowed in ``float`` (OverflowError); a ``rope_scaling.type`` list was "unhashable type"; MLA's ranks and
head dims, a shared expert's width and LatentMoE's latent width had no ceiling, so 2^63 reached the Chinchilla
default past ``training.tokens``' 1e17 (pydantic's ValidationError, exit 1) and 10^29 overflowed the parameter count
-- and a schema-valid model of 1.4e19 parameters without ``training.tokens`` did the same; ``num_hidden_layers:
10000000`` on Llama 4 built its layer lists for 18 s and 1.5 GB before model.layers' refusal (10^9 ran out of
memory); and ``training.framework.cp_comm_type: []`` was an internal ValueError."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import ROOT  # noqa: E402
from test_fuzz_cli import ERROR_LINE, TINY_MOE, estimate_holds, fuzz_settings, job_file, run_cli  # noqa: E402

from planner.spec.schema import FrameworkSpec  # noqa: E402

CONFIGS = sorted((ROOT / "tests" / "data").glob("hf_configs*/*.json"))
BIG = 10**29  # 30 digits: past a float's exact integers, under json's 4,300-digit limit
JOB = ("model: {hf_config: config.json}\n"
       "training: {seq_len: 1024, global_batch: 64, tokens: 1.0e9}\n"
       "cluster: {gpu: H100, gpus_per_node: 8, nodes: 1}\n")


def _config(tmp_path, name: str, **edits):
    """A job on 8 H100s whose ``model.hf_config`` is a shipped test config.json with keys replaced
    (``rope_scaling__type``: a key of ``rope_scaling``, made a YaRN one where the config has none): the job's path."""
    cfg = json.loads((ROOT / "tests" / "data" / name).read_text())
    for k, v in edits.items():
        if "__" in k:
            outer, inner = k.split("__")
            if not isinstance(cfg.get(outer), dict):
                cfg[outer] = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}
            cfg[outer][inner] = v
        else:
            cfg[k] = v
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    p = tmp_path / "job.yaml"
    p.write_text(JOB)
    return p


def _refused(path, field, *said):
    """One line naming ``field`` (``.key``: model.hf_config's key, or the ModelSpec field it maps to)."""
    code, out, err = run_cli("estimate", path, "--json", cwd=path.parent)
    line = err.strip()
    assert code == 2 and "Traceback" not in err and "\n" not in line and ERROR_LINE.match(line), (code, err[-1000:])
    assert line.split(": ")[1] == (f"model.hf_config{field}" if field.startswith(".") else field), line
    for s in said:
        assert s in line, line
    return line


# ------------------------------------------------------------------------ config.json: pinned
@pytest.mark.parametrize("name, key", [
    ("hf_configs/qwen2.5-0.5b.json", "hidden_size"),  # TypeError: NoneType // int
    ("hf_configs/olmo2-7b.json", "num_attention_heads"),
    ("hf_configs/kimi-k2.json", "qk_nope_head_dim"),  # TypeError: NoneType + int
    ("hf_configs/qwen1.5-moe-a2.7b.json", "num_attention_heads"),
])
def test_a_needed_key_given_null_is_refused_by_name(tmp_path, name, key):
    _refused(_config(tmp_path, name, **{key: None}), f".{key}", "is null", "needs a value")


def test_a_null_the_class_default_reads_is_still_read(tmp_path):
    """``num_key_value_heads: null`` is the heads (MHA), as before: only a key the mapper needs is refused."""
    code, out, err = run_cli("estimate", _config(tmp_path, "hf_configs/llama3-8b.json", num_key_value_heads=None),
                             "--json", cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["params"] > 8.5e9  # MHA: 8.84B, where Llama 3 8B with its 8 KV heads has 8.03B


@pytest.mark.parametrize("name, key", [
    ("hf_configs/olmo2-7b.json", "rope_theta"),
    ("hf_configs/gemma3-12b-text.json", "rope_local_base_freq"),
    ("hf_configs/qwen3-235b-a22b.json", "rope_scaling__factor"),
])
def test_a_number_past_a_float_is_refused_not_overflowed(tmp_path, name, key):
    """400 digits passed ``< math.inf`` and overflowed in ``float`` (OverflowError, exit 1); 30 digits are a float and
    reach ModelSpec's bounds as before."""
    _refused(_config(tmp_path, name, **{key: 10**400}), "." + key.replace("__", "."), "finite number, got 1e+400")


@pytest.mark.parametrize("key", ["type", "rope_type"])
def test_a_rope_scaling_type_that_is_no_text_is_refused(tmp_path, key):
    _refused(_config(tmp_path, "hf_configs/deepseek-v2-lite.json", **{f"rope_scaling__{key}": []}),
             ".rope_scaling.rope_type", "is not a RoPE scaling")


@pytest.mark.parametrize("key", ["num_hidden_layers", "max_position_embeddings"])
def test_a_layer_or_position_count_is_bounded_before_the_mapper_loops(tmp_path, key):
    """Llama 4's mapper lists its layers: 10^6 was ~2 s and 150 MB of lists before model.layers' refusal (10^7 18 s,
    1.5 GB; 10^9 out of memory); the positions divide a longrope factor."""
    p = _config(tmp_path, "hf_configs/llama4-scout-17b-16e-text.json", layer_types=None, no_rope_layers=None,
                moe_layers=None, **{key: 10**6 if key == "num_hidden_layers" else 10**400})
    _refused(p, f".{key}", "must be at most")


@pytest.mark.parametrize("name, key, field", [
    ("hf_configs/kimi-k2.json", "kv_lora_rank", "model.mla.kv_lora_rank"),
    ("hf_configs/deepseek-v3.json", "q_lora_rank", "model.mla.q_lora_rank"),
    ("hf_configs/deepseek-v2-lite.json", "v_head_dim", "model.mla.v_head_dim"),
    ("hf_configs/tiny-qwen2-moe.json", "shared_expert_intermediate_size", "model.moe.shared_ffn_hidden"),
    ("hf_configs_ssm/nemotron-3-nano-30b-a3b.json", "moe_latent_size", "model.moe.latent_size"),
])
@pytest.mark.parametrize("size", [2**63, BIG])
def test_a_width_without_a_ceiling_is_now_bounded(tmp_path, name, key, field, size):
    _refused(_config(tmp_path, name, **{key: size}), field, "must be at most")


def test_the_chinchilla_default_past_the_token_limit_is_refused(tmp_path):
    """A schema-valid 1.4e19-parameter model without training.tokens: 20 x params was assigned past tokens' 1e17."""
    p = tmp_path / "job.yaml"
    p.write_text("model: {name: x, layers: 4096, hidden: 65536, heads: 512, vocab: 1000000, ffn_hidden: 4194304, "
                 "moe: {experts: 4096, top_k: 2}}\n")
    _refused(p, "training.tokens", "Chinchilla", "give training.tokens")


def test_an_empty_per_layer_cp_comm_type_is_refused(tmp_path):
    p = tmp_path / "job.yaml"
    p.write_text("model: {name: x, layers: 4, hidden: 512, heads: 8, vocab: 32000}\n"
                 "training: {seq_len: 1024, global_batch: 32, tokens: 1.0e9, "
                 "framework: {name: megatron-core, cp_comm_type: []}}\n"
                 "cluster: {gpu: H100, nodes: 1}\n")
    _refused(p, "training.framework.cp_comm_type", "got []")


# ------------------------------------------------------------------------ config.json: fuzzed
#: the keys the mappers read (planner/spec/hf.py), and rope_scaling's
HF_KEYS = ["hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size",
           "num_key_value_heads", "head_dim", "max_position_embeddings", "tie_word_embeddings", "attention_bias",
           "mlp_bias", "hidden_act", "rope_theta", "rms_norm_eps", "sliding_window", "use_sliding_window",
           "max_window_layers", "layer_types", "num_local_experts", "num_experts", "num_experts_per_tok",
           "moe_intermediate_size", "shared_expert_intermediate_size", "decoder_sparse_step", "mlp_only_layers",
           "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "n_routed_experts",
           "n_shared_experts", "first_k_dense_replace", "n_group", "topk_group", "moe_layer_freq", "scoring_func",
           "interleave_moe_layer_step", "intermediate_size_mlp", "moe_layers", "no_rope_layers", "attention_chunk_size",
           "rope_local_base_freq", "swiglu_limit", "n_embd", "n_layer", "n_head", "n_inner", "n_positions",
           "type_vocab_size", "_name_or_path", "model_type", "rope_scaling", "rope_parameters",
           "rope_scaling__factor", "rope_scaling__type", "rope_scaling__original_max_position_embeddings",
           "rope_scaling__low_freq_factor", "rope_scaling__beta_fast", "rope_scaling__mscale"]
HF_VALUES = st.sampled_from([None, 0, -1, 1, 2, 3, 2**63, BIG, 10**400, 1e308, 1e-300, 0.5, float("nan"),
                             float("inf"), "64", "", "\x1b[31m", True, [], [1, 2], {"a": 1}, [[[[1]]]], "llama"])


@fuzz_settings(40)
@given(name=st.sampled_from(CONFIGS),
       edits=st.lists(st.tuples(st.sampled_from(HF_KEYS), HF_VALUES), min_size=1, max_size=3))
def test_fuzz_hf_config_values(tmp_path_factory, name, edits):
    d = tmp_path_factory.mktemp("hf")
    p = _config(d, str(name.relative_to(ROOT / "tests" / "data")), **dict(edits))
    estimate_holds(p, {"config.json"}, cwd=d)


# ------------------------------------------------------------------------ training.framework: every option
FRAMEWORK_OPTIONS = sorted(f for f in FrameworkSpec.model_fields if f != "name")
STACK_KINDS = ["megatron-core", "torchtitan", "deepspeed", "hf-trainer", "maxtext", "nemo-automodel", "megatron-lm"]
WRONG = st.sampled_from([None, "yes", 2, -1, 0, 1.5, 1e300, 2**64, [], [True], ["p2p"], {"a": 1}, "", "auto", True,
                         "\x1b[31m", [[]]])


@fuzz_settings(40)
@given(stack=st.sampled_from(STACK_KINDS),
       options=st.dictionaries(st.sampled_from(FRAMEWORK_OPTIONS), WRONG, min_size=1, max_size=2))
def test_fuzz_framework_options_of_the_wrong_type(tmp_path_factory, stack, options):
    job = {"model": TINY_MOE, "cluster": {"gpu": "H100", "gpus_per_node": 8, "nodes": 1},
           "training": {"seq_len": 2048, "global_batch": 64, "tokens": 1e9, "framework": {"name": stack, **options}}}
    estimate_holds(job_file(tmp_path_factory, "fw", job))
