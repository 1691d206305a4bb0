"""Bad input: one line naming the field, exit code 2, no traceback; fuzzing finds no crash."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.spec import load_job_dict
from conftest import answered, write_job


BAD = [
    ("model: {preset: llama3-8b\n", "job", "malformed YAML"),
    ("model: {preset: llama3-8b}\ncluster: {gpu: H900-XL, nodes: 1}\n", "cluster.gpu", "unknown GPU"),
    ("model: {layers: -3, hidden: 64, heads: 4, vocab: 100}\n", "model.layers", "must be more than 0"),
    ("model: {layers: 2.5, hidden: 64, heads: 4, vocab: 100}\n", "model.layers", "whole number"),
    ("model: {layers: 2, hidden: 100, heads: 3, vocab: 100}\n", "model.heads", "not divisible"),
    ("model: {preset: llama3-8b}\nparallel: {tp: 3}\ncluster: {gpu: H100, nodes: 1}\n", "parallel.tp", "does not divide"),
    ("model: {preset: nope-7b}\n", "model.preset", "unknown preset"),
    ("model: {preset: llama3-8b}\ntraining: {global_batch: -4}\n", "training.global_batch", "must be more than 0"),
    ("model: {preset: llama3-8b}\ntraining: {seq_len: 99999999999}\n", "training.seq_len", "must be at most"),
    ("model: {preset: llama3-8b}\nparallel: {tp: 8, pp: 2}\ncluster: {gpu: H100, nodes: 1}\n", "parallel", "does not divide"),
    ("model: {preset: llama3-8b}\nbogus: 1\n", "bogus", "unknown"),
    ("- just\n- a list\n", "job", "mapping"),
    ("", "job", "empty"),
    ("model: {preset: llama3-8b}\ntraining: {tokens: 1e12, steps: 10}\n", "training", "one of"),
    ("model: {preset: llama3-8b}\ncluster: {instance: aws:p99.bigxlarge}\n", "cluster.instance", "unknown instance"),
    # a fine-tune's length is its dataset's: Chinchilla's 20 tokens per parameter made an 8B QLoRA a
    # 161B-token, 26-day job
    ("model: {preset: llama3-8b}\ntraining: {mode: qlora, seq_len: 2048, global_batch: 16}\n", "training.tokens",
     "a fine-tune (mode qlora) needs its length"),
    ("model: {preset: llama3-8b}\ntraining: {mode: full_finetune}\n", "training.tokens", "training.epochs with"),
]


@pytest.mark.parametrize("text,field,fragment", BAD)
def test_bad_job_one_line_exit_2(tmp_path, cli, text, field, fragment):
    code, out, err = cli("estimate", write_job(tmp_path, text))
    assert code == 2, (out, err)
    line = err.strip()
    assert "\n" not in line, line
    assert "Traceback" not in out + err
    assert f"{field}" in line and fragment.lower() in line.lower(), line


# --- defects the stack-option fuzz (tests/test_fuzz_cli.py test_fuzz_training_stack_options) found --------
STACK_JOB = ("model: {preset: llama3-8b}\ntraining: {seq_len: 2048, global_batch: 64, micro_batch: 1, tokens: 1e9%s}\n"
             "cluster: {gpu: %s, gpus_per_node: 8, nodes: 1}\nparallel: {tp: 1, pp: 1, dp: 8}\n")
STACK_BAD = [
    # a mean example under one token made the packed dataset a sliver (1 epoch of 1e6 examples: one step)
    (", mean_example_tokens: 0.5", "H100", "training.mean_example_tokens", "must be at least 1"),
    (", mean_example_tokens: 1e-300", "H100", "training.mean_example_tokens", "must be at least 1"),
    # LoRA targets that match no linear planned a run that trains nothing; peft refuses it
    (", mode: lora, lora: {targets: []}", "H100", "training.lora.targets", "adapt no linear"),
    (", mode: lora, lora: {targets: [nope]}", "H100", "training.lora.targets", "adapt no linear"),
    (", mode: lora, lora: {targets: [linear_qkv]}, framework: hf-trainer", "H100", "training.lora.targets",
     "Megatron-Core module names"),
    # the union's branch tag was the field ("training.lora.targets.literal['qkvo','all-linear']")
    (", mode: lora, lora: {targets: [q_proj, 7]}", "H100", "training.lora.targets.1", "must be text"),
    # fp8/fp4 on a GPU without FP8 tensor cores named the catalog column (gpus.A800-SXM-80GB.fp8_tflops)
    (", precision: fp8", "A800", "training.precision", "A800-SXM-80GB has none"),
    (", precision: fp4", "A800-SXM4-80GB", "training.precision", "A800-SXM-80GB has none"),
    # fp4 on an FP8-only part named training.framework.fp8_recipe, a field the job never wrote
    (", precision: fp4", "H800", "training.precision", "training.precision fp4"),
    (", precision: fp8, framework: {name: megatron-core, fp8_recipe: mxfp8}", "H100", "training.framework.fp8_recipe",
     "MX block-scaled"),
    # options of Megatron-Core's MoE code were applied to stacks that do not have them
    (", framework: {name: hf-trainer, moe_dispatcher: deepep}", "H100", "training.framework.moe_dispatcher",
     "hf-trainer has no deepep"),
    (", framework: {name: torchtitan, moe_a2a_overlap: true}", "H100", "training.framework.moe_a2a_overlap",
     "torchtitan has no MoE all-to-all overlap"),
]


def test_megatron_fsdp_at_a_zero_stage_it_does_not_change_is_one_line(tmp_path, cli):
    """Megatron-FSDP asked for at a ZeRO stage it does not change (was priced and described as on). Since qa108 a job
    that leaves parallel.zero out runs Megatron-FSDP at ZeRO-3 (stack_rules ``MFSDP_DEFAULT_ZERO``), so the stage is
    set here."""
    job = STACK_JOB.replace("dp: 8}", "dp: 8, zero: 1}") % (", framework: {name: megatron-core, megatron_fsdp: true}",
                                                           "H100")
    code, out, err = cli("estimate", write_job(tmp_path, job), "--json")
    assert code == 2, (out[-300:], err)
    line = err.strip()
    assert "\n" not in line and line.startswith("error: training.framework.megatron_fsdp: ") and "changes nothing" in line


@pytest.mark.parametrize("extra,gpu,field,fragment", STACK_BAD)
def test_stack_option_defects_are_one_line(tmp_path, cli, extra, gpu, field, fragment):
    code, out, err = cli("estimate", write_job(tmp_path, STACK_JOB % (extra, gpu)), "--json")
    assert code == 2, (out[-300:], err)
    line = err.strip()
    assert "\n" not in line and "Traceback" not in out + err
    assert line.startswith(f"error: {field}: ") and fragment in line, line


@pytest.mark.parametrize("gpu,precision", [("A800", "fp8"), ("A100", "fp8"), ("A800", "fp4")])
def test_recommend_on_a_gpu_without_the_precision_names_the_precision(tmp_path, cli, gpu, precision):
    """recommend said "constraints: no hardware in the catalog matches" for a job whose cluster.gpu is fixed."""
    job = write_job(tmp_path, "model: {preset: llama3-8b}\ntraining: {seq_len: 2048, global_batch: 64, precision: %s}\n"
                          "cluster: {gpu: %s, gpus_per_node: 8, nodes: 1}\n" % (precision, gpu))
    code, out, err = cli("recommend", job, "--no-simulate", "--json")
    assert code == 2 and err.strip().startswith("error: training.precision: fp8: no fp8 peak on A"), err


def test_recommend_refuses_lora_targets_that_adapt_nothing(tmp_path, cli):
    job = write_job(tmp_path, "model: {preset: llama3-8b}\ntraining: {seq_len: 2048, global_batch: 64, tokens: 1e9, mode: lora, "
                          "lora: {targets: [nope]}}\ncluster: {gpu: H100, gpus_per_node: 8, nodes: 1}\n")
    code, out, err = cli("recommend", job, "--no-simulate", "--json")
    assert code == 2 and err.strip().startswith("error: training.lora.targets: ['nope'] adapt no linear"), err


def test_stack_options_still_accepted_where_they_exist(tmp_path, cli):
    """The refusals above stop at the stacks that lack the option: Megatron-Core keeps DeepEP and the
    all-to-all overlap, Megatron names of LoRA targets, and fp4 runs on Blackwell Ultra by alias."""
    moe = ("model: {preset: qwen3-30b-a3b}\ntraining: {seq_len: 2048, global_batch: 64, micro_batch: 1, tokens: 1e9, "
           "framework: {name: megatron-core, moe_dispatcher: deepep, moe_a2a_overlap: true}}\n"
           "cluster: {gpu: H800, gpus_per_node: 8, nodes: 2}\nparallel: {tp: 1, pp: 1, dp: 16, ep: 8}\n")
    for text in (moe, STACK_JOB % (", mode: lora, lora: {targets: [linear_qkv, attention_dense]}", "H100"),
                 STACK_JOB % (", precision: fp4", "Blackwell-Ultra")):
        res = answered(cli("estimate", write_job(tmp_path, text), "--json"))
        assert 0 < res["mfu"] <= 1 and res["step_time_s"] > 0


def test_lora_targets_match_like_peft(tmp_path):
    """A list that names one real module is accepted (peft adapts what matches and ignores the rest);
    only a list that matches nothing is refused."""
    from planner.model.finetune import adapter_params

    job = load_job_dict({"model": {"preset": "llama3-8b"}, "training": {"mode": "lora", "tokens": 1e9, "lora": {"targets": ["q_proj", "nope"]}}})
    # q_proj alone: r (h + q_dim) per layer = 16 * (4096 + 4096) * 32 layers
    assert adapter_params(job.model, job.training) == 16 * (4096 + 4096) * 32


def test_unreadable_hf_config(tmp_path, cli):
    cfg = write_job(tmp_path, "{not json", "config.json")
    code, out, err = cli("estimate", write_job(tmp_path, f"model: {{hf_config: {cfg}}}\n"))
    assert code == 2 and "model.hf_config" in err and "not valid JSON" in err
    missing = write_job(tmp_path, f"model: {{hf_config: {tmp_path / 'absent.json'}}}\n", "j2.yaml")
    code, _, err = cli("estimate", missing)
    assert code == 2 and "file not found" in err


def test_unsupported_hf_model_type(tmp_path, cli):
    cfg = write_job(tmp_path, json.dumps({"model_type": "t5", "vocab_size": 10}), "config.json")
    code, _, err = cli("estimate", cfg)
    assert code == 2 and "unsupported model_type" in err


def test_missing_file(cli, tmp_path):
    code, _, err = cli("estimate", tmp_path / "nope.yaml")
    assert code == 2 and "file not found" in err


def test_nothing_written_on_error(cli, tmp_path):
    out = tmp_path / "ranked.csv"
    # one GPU type: the search still runs to its end and fails there (the whole catalog: ~10x the time)
    code, _, _ = cli("recommend", write_job(tmp_path, "model: {preset: llama3-8b}\nconstraints: {budget_usd: 1, gpus: [H100]}\n"),
                     "--csv", out)
    assert code == 2
    assert not out.exists() and not (tmp_path / "ranked.csv.tmp").exists()


def test_bare_model_and_hf_config_are_jobs(tmp_path):
    job = load_job_dict({"layers": 2, "hidden": 64, "heads": 4, "vocab": 100})
    assert job.model.layers == 2 and job.training.tokens > 0
    assert any("bare model" in a for a in job.assumptions)
    hf = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
          "intermediate_size": 128, "vocab_size": 100, "architectures": ["LlamaForCausalLM"]}
    job = load_job_dict(hf)
    assert job.model.ffn_hidden == 128 and any("config.json" in a for a in job.assumptions)


# --- fuzzing: any dict either validates or raises InputError; never another exception --------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
model_fields = st.fixed_dictionaries({}, optional={
    k: scalars for k in ("layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "mlp", "family",
                         "head_dim", "tied_embeddings", "position", "max_positions", "norm", "preset")})
sections = st.fixed_dictionaries({"model": st.one_of(model_fields, scalars)}, optional={
    "training": st.dictionaries(st.sampled_from(["seq_len", "global_batch", "micro_batch", "precision",
                                                 "optimizer", "recompute", "tokens", "steps"]), scalars, max_size=4),
    "parallel": st.dictionaries(st.sampled_from(["tp", "pp", "dp", "cp", "ep", "zero", "vpp"]), scalars, max_size=4),
    "cluster": st.dictionaries(st.sampled_from(["gpu", "nodes", "gpus_per_node", "instance"]), scalars, max_size=3),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sections)
def test_fuzz_spec_never_crashes(raw):
    try:
        load_job_dict(raw)
    except InputError as e:
        assert e.field and "\n" not in str(e)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=st.integers(1, 96), heads=st.sampled_from([1, 2, 4, 8, 16, 32]), hd=st.sampled_from([32, 64, 128]),
       vocab=st.integers(1, 300000), seq=st.sampled_from([128, 1024, 4096]), tp=st.sampled_from([1, 2, 4, 8]),
       mb=st.sampled_from([1, 2, 4]))
def test_fuzz_valid_jobs_give_finite_estimates(catalog, layers, heads, hd, vocab, seq, tp, mb):
    import math

    from planner.workloads.training import estimate_job

    raw = {"model": {"layers": layers, "hidden": heads * hd, "heads": heads, "vocab": vocab},
           "training": {"seq_len": seq, "global_batch": 64, "micro_batch": mb, "steps": 10},
           "parallel": {"tp": tp}, "cluster": {"gpu": "H100", "nodes": 1}}
    try:
        job = load_job_dict(raw)
        res = estimate_job(job, catalog)
    except InputError:
        return
    for k in ("step_time_s", "mfu", "tokens_per_s"):
        assert math.isfinite(res[k]) and res[k] > 0
    assert res["memory_per_gpu_bytes"]["total"] > 0
    assert res["mfu"] < 1.0


def test_fp8_recipe_on_a_16_bit_job_is_said_to_change_nothing():
    """`precision: bf16` with `framework: {fp8_recipe: delayed}` is timed in bf16: the recipe the user named
    changes nothing, and that was not said (refusing it would break jobs that flip only the precision)."""
    from planner.spec import load_job_dict

    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "training": {"precision": "bf16", "framework": {"name": "megatron-core", "fp8_recipe": "delayed"}}})
    assert any(a.startswith("training.framework.fp8_recipe delayed changes nothing") for a in job.assumptions), job.assumptions
    job = load_job_dict({"model": {"preset": "llama3-8b"},  # the same recipe in an fp8 run: nothing to say
                         "training": {"precision": "fp8", "framework": {"name": "megatron-core", "fp8_recipe": "delayed"}}})
    assert not any("fp8_recipe" in a for a in job.assumptions)


def test_whole_numbers_in_exponent_notation_fill_integer_fields():
    """PyYAML reads `steps: 1e4` as the string "1e4" (YAML 1.1 floats need a dot and a signed exponent);
    float fields took it, integer fields refused it ("unable to parse string as an integer, got '1e4'")."""
    import yaml

    from planner.spec import load_job_dict

    raw = yaml.safe_load("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 1e3, steps: 1e4, micro_batch: 1}\n")
    assert raw["training"]["steps"] == "1e4"  # the premise: a string, not a number
    job = load_job_dict(raw)
    assert (job.training.global_batch, job.training.steps) == (1000, 10000)
    assert isinstance(job.training.steps, int)
    with pytest.raises(InputError) as e:  # not a whole number: still refused, naming the field
        load_job_dict(yaml.safe_load("model: {preset: gpt2}\ntraining: {global_batch: 1.5e0}\n"))
    assert e.value.field == "training.global_batch"


@pytest.mark.parametrize("gpu", ["T4", "V100-SXM2-32GB"])
def test_bf16_on_a_gpu_without_bf16_names_the_precision(cli, tmp_path, gpu):
    """bf16 (the default precision) on a T4 / V100 said "error: gpus.T4-16GB.bf16_tflops: ..." -- a catalog
    column, not the job field to change; fp8 on an A100 already named training.precision."""
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1.0e9}\n"
                   f"parallel: {{tp: 1, pp: 1, zero: 0}}\ncluster: {{gpu: {gpu}, gpus_per_node: 1, nodes: 1}}\n")
    code, _, err = cli("estimate", job)
    assert code == 2 and err.startswith("error: training.precision:") and "fp16" in err, err
