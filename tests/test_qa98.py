"""QA 98: small CLI left-overs of session 50. The stack line printed ``compile=off`` on stacks without a torch.compile
switch; a pytorch-ddp transformer launch was told to load with ``from_pretrained``; ``training.tokens`` on padded rows
counted the padding as trained tokens; ``packing`` / ``mean_example_tokens`` were taken and ignored on a generic model.
Each test failed on the code before QA 98 but the guards named in their docstrings."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job

TRAIN = {"model": {"name": "tiny", "layers": 4, "hidden": 512, "heads": 8, "vocab": 32000},
         "training": {"seq_len": 1024, "global_batch": 64, "tokens": 1e9, "precision": "bf16"},
         "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}}


def _stack_line(cli, tmp_path, job) -> str:
    d = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    return next(a for a in d["assumptions"] if a.startswith("training stack:"))


@pytest.mark.parametrize("stack", ["megatron-core", "pytorch-ddp", "dle-bert"])
def test_the_stack_line_has_no_compile_where_the_stack_has_no_switch(tmp_path, cli, stack):
    """Megatron-Core (no torch.compile of the model), plain DDP and DLE BERT (torch 1.11) read "compile=off"."""
    job = dict(TRAIN, training=dict(TRAIN["training"], framework={"name": stack}))
    if stack == "dle-bert":
        job = dict(job, model={"preset": "bert-large"}, training=dict(job["training"], precision="fp16", seq_len=512),
                   parallel={"zero": 0})
    line = _stack_line(cli, tmp_path, job)
    assert line.startswith(f"training stack: {stack} (") and "compile=" not in line, line


def test_a_stack_with_the_switch_still_says_compile(tmp_path, cli):
    """Guard (passes on the old code too): torchtitan's line keeps its compile switch."""
    job = dict(TRAIN, training=dict(TRAIN["training"], framework={"name": "torchtitan"}))
    assert "(compile=on, " in _stack_line(cli, tmp_path, job)


def test_a_pytorch_ddp_launch_is_not_told_to_use_from_pretrained(tmp_path, cli):
    """Plain torch DDP wraps the script's own model: no from_pretrained to pass attn_implementation to."""
    job = dict(TRAIN, training=dict(TRAIN["training"], framework={"name": "pytorch-ddp"}))
    code, out, err = cli("recommend", write_job(tmp_path, job), "--emit", "torchrun")
    assert code == 0, err
    notes = [ln for ln in out.splitlines() if ln.startswith("# note:") and "attn_implementation" in ln]
    assert len(notes) == 1 and "from_pretrained" not in notes[0] and "script's own model" in notes[0], notes


PADDED = {"model": {"preset": "llama3-8b"}, "parallel": {"tp": 1, "pp": 1, "zero": 3},
          "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1},
          "training": {"mode": "full_finetune", "seq_len": 2048, "global_batch": 64, "tokens": 1e8, "precision": "bf16",
                       "packing": "padded", "mean_example_tokens": 600, "framework": {"name": "hf-trainer"}}}


def test_a_token_budget_on_padded_rows_counts_real_tokens(tmp_path, cli):
    """600-token examples in 2,048-token rows: 1e8 tokens ran 763 steps of 131,072 positions, 71% of them padding,
    and called them 100.01M tokens. Now the steps train 1e8 real tokens, said in an assumed: line."""
    d = answered(cli("estimate", write_job(tmp_path, PADDED), "--json"))
    real = 64 * 600
    assert d["cost"]["steps"] == -(-1e8 // real) == 2605
    assert d["cost"]["tokens"] == 2605 * real and d["cost"]["padding_share"] == pytest.approx(1 - 600 / 2048)
    said = [a for a in d["assumptions"] if a.startswith("training.tokens 100,000,000 counts real tokens")]
    assert len(said) == 1 and "71% padding" in said[0] and "2,605 steps" in said[0], said


def test_a_token_budget_on_packed_rows_is_unchanged(tmp_path, cli):
    """Guard (passes on the old code too): packed rows carry no padding, so the steps are tokens / (64 x 2,048)."""
    job = dict(PADDED, training=dict(PADDED["training"], packing="packed"))
    d = answered(cli("estimate", write_job(tmp_path, job), "--json"))
    assert d["cost"]["steps"] == 763 and d["cost"]["padding_share"] is None
    assert not [a for a in d["assumptions"] if "counts real tokens" in a]


GENERIC = {"model": {"preset": "resnet50"}, "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1},
           "training": {"global_batch": 256, "epochs": 1, "dataset_samples": 1281167}}


@pytest.mark.parametrize("command", ["estimate", "recommend"])
@pytest.mark.parametrize("field, value", [("packing", "padded"), ("mean_example_tokens", 600)])
def test_token_row_fields_are_refused_on_a_generic_model(tmp_path, cli, command, field, value):
    job = dict(GENERIC, training=dict(GENERIC["training"], **{field: value}))
    line = refused(cli(command, write_job(tmp_path, job), "--json"))
    assert line.startswith(f"error: training.{field}: ") and "resnet50 is a generic model" in line, line


def test_the_default_packing_still_loads_on_a_generic_model(tmp_path, cli):
    """Guard (passes on the old code too): a dumped job writes every field, the default packing among them."""
    job = dict(GENERIC, training=dict(GENERIC["training"], packing="packed"))
    assert answered(cli("estimate", write_job(tmp_path, job), "--json"))["cost"]["steps"] == 5005


@pytest.mark.parametrize("gpu, said", [("A100-SXM-80GB", "tp_overlap=none (te falls back to NCCL on A100-SXM-80GB"),
                                       ("H100-SXM-80GB", "tp_overlap=te, ")])
def test_the_stack_line_says_the_tp_overlap_the_gpu_runs(tmp_path, cli, gpu, said):
    """Item 5 (README examples read against their numbers): on an A100 TE's userbuffers do not run and the step prices
    the TP collectives exposed (physics.tp_overlap_mode), while the line read "tp_overlap=te". The H100 case is a guard
    (passes on the old code too)."""
    job = dict(TRAIN, parallel={"tp": 2, "pp": 1, "cp": 1, "zero": 1, "sequence_parallel": True},
               cluster={"gpu": gpu, "nodes": 1})
    line = _stack_line(cli, tmp_path, job)
    assert said in line, line
