"""fwname59: a ``training.framework`` section without a name runs the stack the job runs with no section (the training
mode's or the optimizer's default, planner.spec.training_stack), not FrameworkSpec's own default megatron-core: a QLoRA
job given ``framework: {compile: true}`` was refused "megatron-core has no torch.compile switch", an fp4 QLoRA job
(whose loader writes ``framework: {fp8_recipe: nvfp4}``) "Megatron refuses QLoRA", and an adam8bit job with
``compile: true`` as a Megatron job too (docs/qa_log.md, "fwname59")."""
from __future__ import annotations

import json

import pytest
import yaml

from conftest import write_job
from planner.spec.load import load_job_dict

QLORA = """
model: {preset: llama3.1-70b}
training:
  mode: qlora
  lora: {rank: 16, alpha: 32, targets: all-linear}
  seq_len: 2048
  global_batch: 16
  precision: %(precision)s
  optimizer: adamw
  recompute: full
  steps: 100
%(framework)s
%(where)s
"""
ADAM8 = """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 64, optimizer: adam8bit, recompute: full, steps: 100, framework: {compile: true}}
%(where)s
"""
ESTIMATE = "cluster: {gpu: B200, gpus_per_node: %d, nodes: 1}\nparallel: {tp: 1, pp: 1}"
RECOMMEND = "constraints: {gpus: [B200], max_gpus: %d}"
COMPILE = "  framework: {compile: true}"


def load_job(text):
    return load_job_dict(yaml.safe_load(text))


def _qlora(where, precision="bf16", framework=COMPILE):
    return QLORA % {"precision": precision, "framework": framework, "where": where % 1}


def _run(cli, tmp_path, command, text):
    extra = ("--no-simulate", "--top", "1") if command == "recommend" else ()
    return cli(command, write_job(tmp_path, text), *extra)


@pytest.mark.parametrize("command, where", [("estimate", ESTIMATE), ("recommend", RECOMMEND)],
                         ids=["estimate", "recommend"])
def test_qlora_compile_runs_on_hf_trainer(cli, tmp_path, command, where):
    """QLoRA with `framework: {compile: true}` and no name: hf-trainer, compiled, said on the stack line (it was
    refused as megatron-core's, which has no torch.compile switch)."""
    code, out, err = _run(cli, tmp_path, command, _qlora(where))
    flat = " ".join((out + err).split())
    assert code == 0, flat[-600:]
    assert "training stack: hf-trainer (compile=on" in flat, flat[-900:]
    assert "(training.framework.name left out: the default stack for training.mode qlora)" in flat, flat[-900:]
    assert "megatron-core" not in flat.split("training stack:")[1][:200]


@pytest.mark.parametrize("command, where", [("estimate", ESTIMATE), ("recommend", RECOMMEND)],
                         ids=["estimate", "recommend"])
def test_adam8bit_compile_runs_on_hf_trainer(cli, tmp_path, command, where):
    """adam8bit (which Megatron-Core does not build) with `compile: true` and no name: hf-trainer, compiled."""
    code, out, err = _run(cli, tmp_path, command, ADAM8 % {"where": where % 8})
    flat = " ".join((out + err).split())
    assert code == 0, flat[-600:]
    assert "training stack: hf-trainer (compile=on" in flat, flat[-900:]
    assert "the default stack for training.optimizer adam8bit" in flat, flat[-900:]


@pytest.mark.parametrize("command, where", [("estimate", ESTIMATE), ("recommend", RECOMMEND)],
                         ids=["estimate", "recommend"])
def test_qlora_fp4_is_refused_on_the_precision_for_hf_trainer(cli, tmp_path, command, where):
    """`precision: fp4` on QLoRA: one line on training.precision, why the code QLoRA runs on (hf-trainer: the HF model
    code over a bitsandbytes base) takes no low-precision recipe, not "Megatron refuses QLoRA" on training.mode (a
    stack the job never chose), nor hf-trainer's missing nvfp4 pointing at the Megatron stacks that refuse QLoRA."""
    code, out, err = _run(cli, tmp_path, command, _qlora(where, precision="fp4", framework=""))
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert lines[0] == ("error: training.precision: fp4 is the nvfp4 recipe, and the Hugging Face model code refuses "
                        "fp8 training over a bitsandbytes (nf4 / int8) base: its GEMMs dequantise to bitsandbytes' "
                        "16/32-bit compute dtype, so no fp8 recipe reaches them (use precision bf16)"), err
    assert "Megatron" not in err and "training.mode" not in err


def test_an_fp4_job_on_a_stack_without_nvfp4_still_names_the_recipe(cli, tmp_path):
    """Where only the recipe is missing (torchtitan: no nvfp4) the refusal still says so, on training.precision."""
    text = ("model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 64, steps: 10, precision: fp4, "
            "framework: {name: torchtitan}}\n" + ESTIMATE % 8 + "\n")
    code, out, err = cli("estimate", write_job(tmp_path, text))
    assert code != 0
    assert "error: training.precision: fp4 is the nvfp4 recipe, and torchtitan has no nvfp4 fp8_recipe" in err, err


def test_a_pretraining_section_without_a_name_is_still_megatron_core(cli, tmp_path):
    """The documented default: a pretraining job's section of options only runs megatron-core (tp_overlap is a
    Megatron-Core option: hf-trainer or torchtitan would refuse or drop it)."""
    text = ("model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 64, steps: 10, "
            "framework: {overlap_grad_reduce: false}}\n" + ESTIMATE % 8 + "\n")
    code, out, err = cli("estimate", write_job(tmp_path, text), "--json")
    assert code == 0, err
    assert json.loads(out)["stack"]["name"] == "megatron-core"
    job = load_job(text)
    assert job.training.framework.name == "megatron-core"
    assert "name" not in job.training.framework.model_fields_set


def test_every_reader_sees_the_default_stack_name():
    """The name is filled once, in the job's validator: a LoRA over an int8 (bitsandbytes) base takes QLoRA's stack
    as with no section; a named stack stays as named."""
    lora8 = load_job("model: {preset: llama3-8b}\ntraining: {mode: lora, base_weights: int8, steps: 10, "
                          "framework: {compile: true}}\n")
    assert lora8.training.framework.name == "hf-trainer"
    named = load_job("model: {preset: llama3-8b}\ntraining: {mode: qlora, steps: 10, framework: {name: deepspeed}}\n")
    assert named.training.framework.name == "deepspeed"


def test_the_app_keeps_a_nameless_section_on_the_default_stack():
    """The app's sidebar reads a nameless section as the default stack (its selectbox's "left out") and keeps the
    section's options; it read the name as megatron-core (``stack_section``'s own default), and once the job named
    hf-trainer the sidebar's rebuilt job dropped `compile: true` as another stack's option."""
    import planner.interactive as wi

    base = yaml.safe_load(_qlora(ESTIMATE))
    w = wi.inputs_from_job(wi.build_job(base, None))
    assert w.framework is None
    fw = wi.build_job(base, w).training.framework
    assert (fw.name, fw.compile) == ("hf-trainer", True)
    # the section follows the sidebar's mode: pretraining's default stack, as the CLI reads the same file
    fw = wi.build_job(base, w.replace(mode="pretrain", lora_rank=None)).training.framework
    assert (fw.name, fw.compile, "name" in fw.model_fields_set) == ("megatron-core", True, False)
