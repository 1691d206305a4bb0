"""The model the launch scripts train is the one asked for: RoPE base, RoPE scaling and norm epsilon (model spec,
presets, HF config.json), written as Megatron-LM flags or said in the header; and Hugging Face model folders as
input (README "Launch specs" and "Model inputs"). The Megatron-built check is in tests/test_launch_parsers.py
(``test_megatron_trains_the_models_rope_base_and_norm_epsilon``)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from planner.errors import InputError
from planner.present.emit import emit_launch_spec
from planner.spec import load_job, load_job_dict
from planner.spec.hf import hf_config_to_fields, load_hf_config
from planner.spec.presets import PRESETS
from planner.workloads.training import estimate_job
from conftest import answered

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: presets whose values presets.ROPE_AND_EPS marks "config": the copied config.json they come from
CONFIGS = {"llama3-8b": "hf_configs/llama3-8b.json", "mistral-7b": "hf_configs/mistral-7b.json",
           "mixtral-8x7b": "hf_configs/mixtral-8x7b.json", "qwen2.5-0.5b": "hf_configs/qwen2.5-0.5b.json",
           "qwen2.5-7b": "hf_configs/qwen2.5-7b.json", "qwen3-8b": "hf_configs/qwen3-8b.json",
           "qwen3-32b": "hf_configs/qwen3-32b.json", "qwen3-30b-a3b": "hf_configs/qwen3-30b-a3b.json",
           "qwen3-235b-a22b": "hf_configs/qwen3-235b-a22b.json", "deepseek-v3": "hf_configs/deepseek-v3.json",
           "deepseek-v2-lite": "hf_configs/deepseek-v2-lite.json", "kimi-k2": "hf_configs/kimi-k2.json",
           "gpt-oss-20b": "hf_configs/gpt-oss-20b.json", "gpt-oss-120b": "hf_configs/gpt-oss-120b.json",
           "llama4-scout": "hf_configs/llama4-scout-17b-16e-text.json", "gemma2-9b": "hf_configs/gemma2-9b.json",
           "gemma3-12b": "hf_configs/gemma3-12b-text.json", "olmo2-7b": "hf_configs/olmo2-7b.json",
           "phi3-mini": "hf_configs/phi3-mini-4k.json", "gpt2": "hf_configs/gpt2.json",
           "bert-base": "hf_configs/bert-base-uncased.json",
           "nemotron-3-nano-30b-a3b": "hf_configs_ssm/nemotron-3-nano-30b-a3b.json"}
KEYS = ("rope_theta", "norm_eps", "rope_scaling", "rope_local_base_freq")


def _job(model: dict, style: str = "megatron", fmt: str = "torchrun", zero: int = 1) -> str:
    job = load_job_dict({"model": model, "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1,
                                                      "tokens": 1e9},
                         "parallel": {"tp": 1, "pp": 1, "zero": zero},
                         "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    return emit_launch_spec(job, estimate_job(job), f"{fmt}:{style}")


@pytest.mark.parametrize("preset", sorted(CONFIGS))
def test_presets_carry_their_config_rope_and_epsilon(preset):
    """Each preset's RoPE base, scaling and norm epsilon are the ones its copied config.json maps to."""
    got = load_hf_config(DATA / CONFIGS[preset])
    assert {k: PRESETS[preset].get(k) for k in KEYS} == {k: got.get(k) for k in KEYS}


def test_every_rope_preset_states_its_base():
    missing = [n for n, p in PRESETS.items() if p.get("position", "rope") == "rope" and p.get("family") != "generic"
               and p.get("rope_theta") is None]
    assert missing == []


def test_hf_config_rope_forms():
    """transformers 4.x ``rope_theta`` / ``rope_scaling`` (``type`` or ``rope_type``), 5.x ``rope_parameters`` (Gemma 3's
    per layer type: the full-attention layers'); ``default`` is no scaling; RoPE-less models take none."""
    base = json.loads((DATA / "hf_configs/llama3-8b.json").read_text())
    v5 = {k: v for k, v in base.items() if k != "rope_theta"}
    v5["rope_parameters"] = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    f = hf_config_to_fields(v5)
    assert f["rope_theta"] == 500000.0 and f["rope_scaling"] == dict(
        type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_positions=8192)
    per_type = dict(v5, rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                         "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})
    f = hf_config_to_fields(per_type)
    assert f["rope_theta"] == 1e6 and "rope_scaling" not in f
    assert "rope_scaling" not in hf_config_to_fields(dict(base, rope_scaling={"rope_type": "default"}))
    nano = load_hf_config(DATA / "hf_configs_ssm/nemotron-3-nano-30b-a3b.json")  # its rope_theta is never applied
    assert "rope_theta" not in nano and nano["norm_eps"] == 1e-5


@pytest.mark.parametrize("change,field", [
    ({"rope_theta": "500000"}, "model.hf_config.rope_theta"),
    ({"rope_theta": 0.5}, "model.hf_config.rope_theta"),
    ({"rms_norm_eps": 2}, "model.hf_config.rms_norm_eps"),
    ({"rope_scaling": {"rope_type": "warp", "factor": 2}}, "model.hf_config.rope_scaling.rope_type"),
    ({"rope_scaling": {"rope_type": "linear"}}, "model.hf_config.rope_scaling.factor"),
    ({"rope_scaling": [8]}, "model.hf_config.rope_scaling"),
])
def test_hf_config_bad_rope_values_are_refused(change, field):
    base = json.loads((DATA / "hf_configs/llama3-8b.json").read_text())
    with pytest.raises(InputError) as e:
        hf_config_to_fields(dict(base, **change))
    assert e.value.field == field


def test_rope_fields_on_a_model_without_rope_are_refused():
    with pytest.raises(InputError) as e:
        load_job_dict({"model": {"preset": "gpt2", "rope_theta": 10000}})
    assert "rope_theta" in str(e.value) and "no RoPE" in str(e.value)


def test_megatron_script_carries_base_epsilon_and_llama3_scaling():
    """Qwen3: --rotary-base 1000000 --norm-epsilon 1e-06 (Megatron-LM's defaults are 10000 and 1e-5); Llama 3.1: its
    llama3 scaling; a user's override reaches the line."""
    s = _job({"preset": "qwen3-8b"})
    assert "--rotary-base 1000000 " in s and "--norm-epsilon 1e-06 " in s and "--use-rope-scaling" not in s
    s = _job({"preset": "llama3.1-8b"})
    assert "--rotary-base 500000 " in s and "--use-rope-scaling \\" in s and "--rope-scaling-factor 8.0 " in s
    assert "--rotary-base 250000 " in _job({"preset": "llama3-8b", "rope_theta": 250000})


def test_megatron_header_says_what_no_flag_carries():
    """A scaling other than Llama 3.1's band (Gemma 3's linear), an unstated base or epsilon, a fractional base: a
    ``# note:`` in the header instead of a silent default."""
    s = _job({"preset": "gemma3-12b"})
    assert "# note: the model's RoPE linear scaling, factor 8, is not carried" in s
    bare = dict(PRESETS["llama3-8b"], name="bare")
    del bare["rope_theta"], bare["norm_eps"]
    s = _job(bare)
    assert "  --rotary-base " not in s and "model.rope_theta is not stated: Megatron-LM trains at --rotary-base 10000" in s
    assert "model.norm_eps is not stated" in s
    s = _job({"preset": "llama3-8b", "rope_theta": 12345.5})
    assert "  --rotary-base " not in s and "rope_theta 12345.5 is not an integer" in s
    s = _job({"preset": "llama3-8b", "rope_scaling": {"type": "llama3", "factor": 16, "high_freq_factor": 1}})
    assert "  --use-rope-scaling" not in s and "llama3 scaling, factor 16, is not carried" in s


def test_megatron_script_carries_an_mla_models_yarn():
    """DeepSeek-V2-Lite's YaRN (config.json: factor 40, mscale / mscale_all_dim 0.707) as the flags Megatron-LM
    declares for multi-latent attention (arguments.py @000c4ac24f61 / @007562f9413e: --rope-type, and
    _add_mla_args' --rotary-scaling-factor, --mscale, --mscale-all-dim); until 2026-12-04 none was written and the
    line trained YaRN at --rotary-scaling-factor's default 1.0. Unstated temperatures are said, with the default."""
    s = _job({"preset": "deepseek-v2-lite"})
    for flag in ("--rope-type yarn ", "--rotary-scaling-factor 40.0 ", "--mscale 0.707 ", "--mscale-all-dim 0.707 "):
        assert f"  {flag}" in s, flag
    assert "is not carried" not in s
    own = dict(PRESETS["deepseek-v2-lite"], name="own", rope_scaling={"type": "yarn", "factor": 16, "beta_fast": 8})
    s = _job(own)
    assert "  --rotary-scaling-factor 16.0 " in s and "  --mscale " not in s
    assert "YaRN mscale is not stated: Megatron-LM trains at --mscale 1" in s
    assert "YaRN mscale_all_dim is not stated: Megatron-LM trains at --mscale-all-dim 0" in s
    assert "YaRN beta_fast 8 (Megatron-Core: 32) is not carried" in s


def test_megatron_header_says_standard_attention_yarn_has_no_flag():
    """gpt-oss (standard attention, YaRN factor 32 over 4096): Megatron-LM has no YaRN flag for it, so no YaRN flag
    is written and the header says so (it used to say only "yarn scaling ... is not carried")."""
    s = _job({"preset": "gpt-oss-20b"})
    assert "  --rope-type" not in s and "  --rotary-scaling-factor" not in s and "  --mscale" not in s
    assert "# note: the model's RoPE yarn scaling, factor 32 over 4096 positions, is not carried: Megatron-LM has no " \
           "YaRN flags for standard attention" in s


@pytest.mark.parametrize("key,value", [("mscale", -1), ("beta_fast", 0), ("mscale_all_dim", "big"), ("beta_slow", 1e9)])
def test_bad_yarn_values_are_refused(key, value):
    with pytest.raises(InputError) as e:
        load_job_dict({"model": {"preset": "deepseek-v3", "rope_scaling": {"type": "yarn", "factor": 40, key: value}}})
    assert e.value.field == f"model.rope_scaling.{key}"


def test_torchtitan_header_names_the_values_its_config_must_hold():
    s = _job({"preset": "qwen3-8b"}, style="fsdp", zero=3)
    assert "# note: the model's rope_theta 1e+06, norm epsilon 1e-06 are set in $TITAN_CONFIG's model args, not by a " \
           "flag" in s


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "Qwen2.5-7B"
    d.mkdir()
    shutil.copy(EXAMPLES / "hf" / "qwen2.5-7b-config.json", d / "config.json")
    (d / "model.safetensors").write_bytes(b"not read")
    return d


def test_a_model_folder_is_read_as_its_config_json(cli, model_dir):
    """``planner recommend MODEL_DIR`` plans the model of MODEL_DIR/config.json, as the file itself does, and says
    only that file was read; until 2026-12-03 it was "error: job: ...: is a directory, not a file".

    The file's plan is shown the same as the folder's through the job both load to (``load_job``: the CLI's
    ``_context`` plans what it returns, with the catalog alone beside it), equal but for the folder's one
    assumption, not through a second whole-catalog search (~17 s of the suite; suite44b)."""
    d = answered(cli("recommend", model_dir, "--json", "--no-simulate", "--top", "1"))
    assert d["assumptions"][0].startswith(f"model folder {model_dir}: only its config.json is read")
    assert d["best"]["config"]["tp"] >= 1  # planned, not refused
    of_folder, of_file = load_job(model_dir), load_job(model_dir / "config.json")
    assert of_folder.assumptions[1:] == of_file.assumptions and of_folder.assumptions[0] == d["assumptions"][0]
    assert of_folder.model_copy(update={"assumptions": []}) == of_file.model_copy(update={"assumptions": []})


def test_a_job_names_a_model_folder_as_hf_config(model_dir, tmp_path):
    job = load_job_dict({"model": {"hf_config": str(model_dir)}})
    assert job.model.hidden == 3584 and job.model.rope_theta == 1e6


def test_a_folder_without_config_json_is_refused(cli, tmp_path):
    empty = tmp_path / "no-model"
    empty.mkdir()
    code, out, err = cli("recommend", empty, "--no-simulate")
    assert code == 2
    assert f"error: job: {empty} is a folder that has no config.json" in out + err
    with pytest.raises(InputError) as e:
        load_job_dict({"model": {"hf_config": str(empty)}})
    assert e.value.field == "model.hf_config" and "has no config.json" in str(e.value)


def test_gemma3_local_layers_rope_base_is_read_and_said():
    """Gemma 3's sliding-window layers rotate at rope_local_base_freq 10000 (transformers Gemma3TextConfig), its
    global ones at rope_theta 1,000,000. The importer dropped the local base and a Megatron line trained every layer
    at --rotary-base 1000000 without a word; it is now read (4.x key, 5.x rope_parameters.sliding_attention, the
    config class's default when absent) and said where no flag carries it."""
    cfg = json.loads((DATA / "hf_configs/gemma3-12b-text.json").read_text())
    assert hf_config_to_fields(cfg)["rope_local_base_freq"] == 1e4
    absent = {k: v for k, v in cfg.items() if k != "rope_local_base_freq"}
    assert hf_config_to_fields(absent)["rope_local_base_freq"] == 1e4  # Gemma3TextConfig's default
    v5 = {k: v for k, v in absent.items() if k not in ("rope_theta", "rope_scaling")}
    v5["rope_parameters"] = {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                             "sliding_attention": {"rope_type": "default", "rope_theta": 5e4}}
    f = hf_config_to_fields(v5)
    assert (f["rope_theta"], f["rope_local_base_freq"]) == (1e6, 5e4)
    assert "rope_local_base_freq" not in hf_config_to_fields(dict(cfg, rope_local_base_freq=1e6))  # one base
    assert "rope_local_base_freq" not in load_hf_config(DATA / "hf_configs/gemma2-9b.json")  # one base for all
    with pytest.raises(InputError) as e:
        hf_config_to_fields(dict(cfg, rope_local_base_freq=0.5))
    assert e.value.field == "model.hf_config.rope_local_base_freq"
    s = _job({"preset": "gemma3-12b"})
    assert "  --rotary-base 1000000 " in s
    assert ("# note: the sliding-window layers' RoPE base 10000 (rope_local_base_freq) is not carried: Megatron-LM's "
            "--rotary-base sets one base for every layer, so they train at 1e+06") in s
    from planner.present.emit import config_rope_note

    gemma3 = load_job_dict({"model": {"preset": "gemma3-12b"}}).model  # torchtitan / NeMo AutoModel: a config note
    assert "sliding-window layers' rope_local_base_freq 10000" in config_rope_note(gemma3, "the config")
    assert "rope_local_base_freq" not in _job({"preset": "gemma2-9b"})
    with pytest.raises(InputError) as e:
        load_job_dict({"model": {"preset": "llama3-8b", "rope_local_base_freq": 10000}})
    assert "rope_local_base_freq" in str(e.value) and "no sliding-window" in str(e.value)


def test_a_preset_override_without_local_layers_drops_the_presets_local_base():
    """``{preset: gemma3-12b, local_layers: 0}`` (full attention everywhere) was refused: the preset's local RoPE
    base (10,000) had no sliding-window layer left to apply to. The base's value goes with its layers; one the job
    sets itself with no local layer is still refused."""
    def job(model):
        return load_job_dict({"model": model, "training": {"tokens": 1e9}, "cluster": {"gpu": "H100-SXM-80GB"}})

    assert job({"preset": "gemma3-12b"}).model.rope_local_base_freq == 10_000
    assert job({"preset": "gemma3-12b", "local_layers": 0}).model.rope_local_base_freq is None
    with pytest.raises(InputError, match="rope_local_base_freq"):
        job({"preset": "gemma3-12b", "local_layers": 0, "rope_local_base_freq": 10_000})
