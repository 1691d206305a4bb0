"""optim36: the optimizer a plan prices is the optimizer its launch runs (planner.model.optimizers RUNTIME_OPTIMIZERS).

Until optim36 the Megatron stacks priced 8-bit Adam and Adafactor (2 bytes of state a parameter) and the megatron launch
ran plain Adam (8 bytes); SGD and Lion were priced with the distributed optimizer, which wraps Adam only, and launched
as Adam too."""
from __future__ import annotations

import json
import shlex

import pytest

from conftest import write_job
from planner.errors import InputError
from planner.model.optimizers import RUNTIME_OPTIMIZERS
from planner.present.emit import emit_launch_spec
from planner.spec import load_job_dict
from planner.workloads.training import estimate_job
from test_qa48 import FULL_1B


def _job(tmp_path, opt, fw=None, zero=0, name="job.yaml"):
    """QA 48's 1.24B full fine-tune on one L40S (test_qa48.FULL_1B) with ``opt``, the stack ``fw`` (None: the job
    names none) and ZeRO ``zero``."""
    text = FULL_1B.replace("OPT", opt).replace("zero: 0", f"zero: {zero}")
    text = text.replace("FW", fw) if fw else text.replace("  framework: FW\n", "")
    return write_job(tmp_path, text, name)


def _one_line_error(code, err):
    assert code == 2, err
    assert err.strip() == err.strip().splitlines()[0], err
    return err.strip()


@pytest.mark.parametrize("fw", ["megatron-core", "nemo", "megatron-bridge"])
@pytest.mark.parametrize("opt", ["adam8bit", "adafactor"])
def test_megatron_stacks_refuse_optimizers_their_code_does_not_build(cli, tmp_path, fw, opt):
    """Megatron-Core's get_megatron_optimizer builds adam, sgd, lion (and muon); 8-bit Adam and Adafactor were priced at
    their 2-byte states and launched as fp32 Adam. Refused by name, naming what it builds and which stacks build it."""
    err = _one_line_error(*cli("estimate", _job(tmp_path, opt, fw))[::2])
    assert err.startswith(f"error: training.optimizer: {fw} builds adamw, adam, sgd, sgd_momentum, lion, muon only, "
                          f"not {opt} (deepspeed, hf-trainer build it) (Megatron-Core "), err


@pytest.mark.parametrize("fw,opt,built", [("megatron-lm", "lion", "sgd"), ("megatron-lm", "adam8bit", "adam"),
                                          ("megatron-deepspeed", "sgd_momentum", "adamw"),
                                          ("megatron-deepspeed", "lion", "adam"), ("llm-foundry", "adam8bit", "lion"),
                                          ("llm-foundry", "sgd", "adamw"), ("megatron-bridge", "adafactor", "lion"),
                                          ("megatron-core", "adam8bit", "sgd_momentum")])
def test_stacks_refuse_what_they_do_not_build_and_price_what_they_do(cli, tmp_path, fw, opt, built):
    """Megatron-LM 2021-22 builds adam / sgd, Megatron-DeepSpeed torch AdamW whatever --optimizer says, llm-foundry its
    registry's decoupled_adamw / decoupled_lionw, Megatron-Core adam / sgd / lion / muon (SGD and Lion at ZeRO-0)."""
    err = _one_line_error(*cli("estimate", _job(tmp_path, opt, fw))[::2])
    assert err.startswith(f"error: training.optimizer: {fw} builds "), err
    assert f"only, not {opt}" in err, err
    names = err.split(" builds ", 1)[1].split(" only,", 1)[0].split(", ")
    run = {"megatron-lm": "megatron-lm", "megatron-deepspeed": "megatron-deepspeed", "llm-foundry": "composer"}
    assert names == list(RUNTIME_OPTIMIZERS[run.get(fw, "megatron")].names) and built in names
    code, out, err = cli("estimate", _job(tmp_path, built, fw, name="built.yaml"), "--json")
    assert code == 0, err


@pytest.mark.parametrize("fw,opt", [("megatron-core", "sgd"), ("megatron-core", "lion"), ("megatron-lm", "sgd")])
def test_distributed_optimizer_wraps_adam_only(cli, tmp_path, fw, opt):
    """DistributedOptimizer asserts Adam ('Only Adam and HybridDeviceOptimizer currently supported'): SGD and Lion at
    ZeRO-1 were priced with sharded state; they are refused there and run at ZeRO-0."""
    err = _one_line_error(*cli("estimate", _job(tmp_path, opt, fw, zero=1))[::2])
    assert err.startswith("error: parallel.zero: "), err
    assert "SGD" in err and "distributed optimizer" in err, err


def test_open_framework_takes_the_stack_that_builds_the_optimizer(cli, tmp_path):
    """An open training.framework with 8-bit Adam was Megatron-Core (the default stack), priced at 2 bytes and launched
    as fp32 Adam; it is the HF Trainer now (defaults.FRAMEWORK_BY_OPTIMIZER), said in the assumption line."""
    code, out, err = cli("estimate", _job(tmp_path, "adam8bit"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    text = json.dumps(doc)
    assert "hf-trainer" in text and "training.optimizer adam8bit, which megatron-core does not build" in text
    code, out, err = cli("estimate", _job(tmp_path, "adamw", name="adamw.yaml"), "--json")
    assert code == 0 and "training.optimizer adamw" not in out


def test_auto_skips_stacks_that_cannot_build_the_optimizer(cli, tmp_path):
    """framework: auto with Adafactor: megatron-core and torchtitan are kept as refused with the reason; the HF Trainer
    and DeepSpeed are searched."""
    code, out, err = cli("recommend", _job(tmp_path, "adafactor", "auto"), "--no-simulate", "--json")
    assert code == 0, err
    stacks = {s["framework"]: s for s in json.loads(out)["stacks"]}
    for fw in ("megatron-core", "torchtitan"):
        assert stacks[fw]["status"] == "refused" and "not adafactor" in stacks[fw]["reason"], stacks[fw]
    assert stacks["hf-trainer"]["status"] != "refused" and stacks["deepspeed"]["status"] != "refused", stacks


def _plan(training, parallel):
    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "training": {"seq_len": 8192, "global_batch": 512, "micro_batch": 2, "recompute": "selective",
                                      "tokens": 1e12, **training},
                         "parallel": parallel, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}})
    return job, estimate_job(job)


def _argv(text: str) -> list[str]:
    return [t for t in shlex.split(text, comments=True) if t.strip()]


def _flag(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


@pytest.mark.parametrize("opt,flags", [("sgd", ("sgd", "0.0")), ("sgd_momentum", ("sgd", "0.9")), ("lion", ("lion", None))])
def test_megatron_launch_runs_the_priced_optimizer(opt, flags):
    """The megatron launch wrote no --optimizer for SGD or Lion (Megatron's default adam ran); it writes the registry's
    flags, which Megatron-LM's parser takes (tests/test_launch_parsers.py)."""
    job, best = _plan({"optimizer": opt, "framework": "megatron-core"}, {"tp": 2, "pp": 1, "zero": 0})
    argv = _argv(emit_launch_spec(job, best, "torchrun:megatron"))
    assert (_flag(argv, "--optimizer"), _flag(argv, "--sgd-momentum")) == flags
    assert "--use-distributed-optimizer" not in argv


def test_megatron_launch_parser_takes_the_optimizer_flags():
    """The emitted flags parse under Megatron-LM's arguments (choices adam/sgd/muon/dist_muon/lion, --sgd-momentum)."""
    lp = pytest.importorskip("test_launch_parsers")
    job, best = _plan({"optimizer": "sgd_momentum", "framework": "megatron-core"}, {"tp": 2, "pp": 1, "zero": 0})
    argv = _argv(emit_launch_spec(job, best, "torchrun:megatron"))
    script = next(i for i, x in enumerate(argv) if x.endswith("pretrain_gpt.py"))
    a = lp.megatron_args(argv[script + 1:])
    assert a["optimizer"] == "sgd" and a["sgd_momentum"] == 0.9


def test_a_plan_of_another_stack_is_not_launched_with_an_optimizer_megatron_lacks():
    """An HF Trainer 8-bit Adam plan written as a Megatron launch ran fp32 Adam; both launch styles refuse it now
    (stack_rules mcore-optimizer, titan-optimizer)."""
    job, best = _plan({"optimizer": "adam8bit", "framework": "hf-trainer"}, {"tp": 1, "pp": 1, "zero": 3})
    for style in ("megatron", "fsdp"):
        with pytest.raises(InputError, match="does not build"):
            emit_launch_spec(job, best, f"torchrun:{style}")
