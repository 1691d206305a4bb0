"""fwname59b: a ``training.framework`` section without a name runs the stack the job runs with no section, read with the
model's kind and the accelerator's platform too (planner.spec.training_stack ``default_stack_name``, planner.search.space
``open_stack``): on a TPU or Trainium the platform's stack (maxtext, neuronx-distributed), not refused as megatron-core;
for a model without transformer layers plain PyTorch DDP, not megatron-core; and in the app, picking that same stack
by name keeps the section's options (docs/qa_log.md, "fwname59b")."""
from __future__ import annotations

import json

import pytest
import yaml

from conftest import write_job
from planner.spec.load import load_job_dict

LLAMA = ("model: {preset: llama3-8b}\ntraining: {global_batch: 256, seq_len: 4096, precision: bf16, tokens: 1.0e10, "
         "framework: {%s}}\n")
ON_TPU = "cluster: {instance: 'gcp:tpu-v6e-64', nodes: 1}\nparallel: {tp: 1, pp: 1}\n"
ON_TRN = "cluster: {gpu: Trainium2, nodes: 4}\nparallel: {tp: 8, pp: 1}\n"
TPU_SEARCH = "constraints: {max_gpus: 64, gpus: [TPU-v6e]}\n"
RESNET = """
model: {preset: resnet50}
training: {global_batch: 8192, micro_batch: 256, precision: bf16, optimizer: sgd_momentum, epochs: 1,
           dataset_samples: 1281167, framework: {channels_last: false}}
"""
ON_H100 = "cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 1}\nparallel: {tp: 1, pp: 1, zero: 0}\n"
H100_SEARCH = "constraints: {max_gpus: 16, gpus: [H100-SXM-80GB]}\n"


def _stack(cli, tmp_path, command, text):
    extra = ("--no-simulate", "--top", "1") if command == "recommend" else ()
    code, out, err = cli(command, write_job(tmp_path, text), "--json", *extra)
    assert code == 0, " ".join((out + err).split())[-600:]
    got = json.loads(out)
    return (got["stack"] if command == "estimate" else got["best"]["stack"])


@pytest.mark.parametrize("command, where, option, stack", [
    ("estimate", ON_TPU, "overlap_grad_reduce: true", "maxtext"),
    ("estimate", ON_TPU, "num_vocab_tiling: 2", "maxtext"),  # an option only the platform's stack has
    ("estimate", ON_TRN, "overlap_grad_reduce: true", "neuronx-distributed"),
    ("recommend", TPU_SEARCH, "overlap_grad_reduce: true", "maxtext"),
    ("recommend", TPU_SEARCH, "num_vocab_tiling: 2", "maxtext"),
], ids=["estimate-tpu", "estimate-tpu-maxtext-option", "estimate-trainium", "recommend-tpu",
        "recommend-tpu-maxtext-option"])
def test_a_nameless_section_runs_the_platform_stack(cli, tmp_path, command, where, option, stack):
    """On a TPU / Trainium a section of options only is the platform's stack, as no section is (it was refused:
    "megatron-core runs on NVIDIA GPUs (CUDA), AMD GPUs (ROCm), not on TPU-v6e")."""
    got = _stack(cli, tmp_path, command, LLAMA % option + where)
    assert got["name"] == stack
    if "num_vocab_tiling" in option:
        assert got["num_vocab_tiling"] == 2


@pytest.mark.parametrize("command, where", [("estimate", ON_H100), ("recommend", H100_SEARCH)],
                         ids=["estimate", "recommend"])
def test_a_nameless_section_on_a_cnn_is_pytorch_ddp(cli, tmp_path, command, where):
    """ResNet-50 with `framework: {channels_last: false}`: plain PyTorch DDP with channels-last off (it was refused as
    megatron-core's: "megatron-core has no channels-last switch")."""
    got = _stack(cli, tmp_path, command, RESNET + where)
    assert got["name"] == "pytorch-ddp"
    assert got["channels_last"] is False


def test_the_job_names_a_cnn_section_pytorch_ddp_unnamed():
    """The job's validator names it with the model's kind, and the job still does not name it (the stack line's
    "training.framework.name left out")."""
    from planner.spec.training_stack import stack_named

    job = load_job_dict(yaml.safe_load(RESNET + ON_H100))
    assert job.training.framework.name == "pytorch-ddp"
    assert not stack_named(job.training)


def test_a_named_stack_on_a_tpu_is_still_refused(cli, tmp_path):
    """Guard: a section that names megatron-core on a TPU is refused as before (only a nameless one is open)."""
    code, out, err = cli("estimate", write_job(tmp_path, LLAMA % "name: megatron-core" + ON_TPU))
    assert code != 0
    assert "megatron-core runs on" in " ".join((out + err).split())


def test_the_app_keeps_a_nameless_section_picked_by_name():
    """The app: a nameless section's user who picks that same default stack by name in the selectbox keeps the
    section's options (``stack_section`` read it as another stack and dropped them)."""
    import planner.interactive as wi

    base = yaml.safe_load(RESNET + ON_H100)
    w = wi.inputs_from_job(wi.build_job(base, None))
    assert w.framework is None
    fw = wi.build_job(base, w.replace(framework="pytorch-ddp")).training.framework
    assert (fw.name, fw.channels_last) == ("pytorch-ddp", False)
    base = yaml.safe_load(LLAMA % "num_vocab_tiling: 2" + ON_TPU)
    fw = wi.build_job(base, wi.inputs_from_job(wi.build_job(base, None)).replace(framework="maxtext")).training.framework
    assert (fw.name, fw.num_vocab_tiling) == ("maxtext", 2)
    # another stack by name: at its defaults, as before
    fw = wi.build_job(base, wi.inputs_from_job(wi.build_job(base, None)).replace(framework="megatron-core"))
    assert fw.training.framework == "megatron-core" or fw.training.framework.num_vocab_tiling is None
