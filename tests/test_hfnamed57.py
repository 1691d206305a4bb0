"""An error on a model field a Hugging Face config.json set is named by the config's key (qa57 found
``model.kv_heads: heads (32) not divisible by kv_heads (5)`` for a config that never says ``kv_heads``): the job's
``model.hf_config.<key>``, or the bare key for a config.json given as the job; a field the job wrote over the
config keeps the job's name."""
import json

import pytest

from planner.errors import InputError
from planner.spec import load_job

CFG = {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 5,
       "num_hidden_layers": 2, "intermediate_size": 11008, "vocab_size": 32000}


def _refusal(path):
    with pytest.raises(InputError) as e:
        load_job(path)
    return e.value


def test_the_configs_key_is_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(CFG))
    (tmp_path / "job.yaml").write_text("model:\n  hf_config: config.json\n")
    e = _refusal(tmp_path / "job.yaml")
    assert e.field == "model.hf_config.num_key_value_heads" and "(5)" in e.message and "model.kv_heads" in e.message
    assert _refusal(tmp_path / "config.json").field == "num_key_value_heads"  # the config as the whole job


def test_a_field_the_job_wrote_keeps_the_jobs_name(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**CFG, "num_key_value_heads": 8}))
    (tmp_path / "job.yaml").write_text("model:\n  hf_config: config.json\n  kv_heads: 5\n")
    assert _refusal(tmp_path / "job.yaml").field == "model.kv_heads"
