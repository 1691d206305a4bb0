"""QA 102: small items left by session 51 (docs/qa_log.md "QA 102"). Each test fails on the code before it (c.f. the
log for the one that pins behaviour already right there)."""
from __future__ import annotations

import io
import re

import pytest
from conftest import answered, refused, write_job
from rich.console import Console

BERT = {"model": {"preset": "bert-large"},
        "training": {"seq_len": 128, "global_batch": 2048, "micro_batch": 256, "precision": "fp16",
                     "optimizer": "adamw", "tokens": 1e9, "framework": "dle-bert"},
        "parallel": {"tp": 1, "pp": 1, "zero": 0}, "cluster": {"gpu": "A100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


# -- 1. the stacks table of framework: auto at 100 columns -----------------------------------------------------------
def _stack_row(name, chosen, limits):
    return {"framework": name, "chosen": chosen, "nodes": 8, "hardware": "aws:p5.48xlarge",
            "layout": "TP2 PP1 DP32 z1 mb2", "step_time_s": 6.81, "train_hours": 451.0, "cost_usd": 198_600.0,
            "vs_chosen": {} if chosen else {"cost": 0.12, "time": 0.12}, "tie": False, "lost": "costlier by $24.2k",
            "limits": limits}


def test_stack_table_keeps_megatron_core_whole_and_every_limit_at_100_columns():
    """``recommend`` on a ``framework: auto`` job at COLUMNS=100 folded "megatron-core" into "megatron-cor" / "e" and
    each limits cell over 8 lines: the names stay whole and the limits, where the table cannot hold them, are lines
    under it, every word kept."""
    from planner.present.terminal import stack_table

    lim = ("compute-bound: GEMMs 76%, attention 14%, memory-bound kernels 6% of the step; MFU 56%",
           "exposed ZeRO-3/FSDP parameter gathers on 3200 Gb/s network: 10% of the step (GEMMs 57%)")
    rows = [_stack_row("megatron-core", True, lim[0]), _stack_row("deepspeed", False, lim[1])]
    con = Console(file=io.StringIO(), width=100, color_system=None)
    con.print(stack_table(con, rows, "cost"))
    text = con.file.getvalue()
    assert all(len(line) <= 100 for line in text.splitlines())
    cells = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]
    assert "megatron-core" in cells and "deepspeed" in cells, text
    flat_text = " ".join(text.split())
    for words in lim:
        assert words in flat_text, text


# -- 2. one spelling of a path in every --help -------------------------------------------------------------------------
def test_every_help_spells_a_path_one_way(cli):
    """The job argument and --csv / --timeline / -o printed typer's ``<Path>`` where --catalog / --profile / --trace
    printed ``<path>``: every subcommand's help now names a path ``PATH_METAVAR``, and no type in upper case."""
    from planner.cli import PATH_METAVAR, click_command

    group = click_command()
    names = [(n,) for n in group.commands if n != "catalog"]
    names += [("catalog", n) for n in group.commands["catalog"].commands]
    seen = set()
    for argv in names:
        code, out, _ = cli(*argv, "--help", env={"COLUMNS": "200"})
        assert code == 0, argv
        kinds = set(re.findall(r"<[^<>\s]+>", out))
        assert not {k for k in kinds if k != k.lower()}, (argv, kinds)
        seen |= kinds
    assert PATH_METAVAR in seen
    code, out, _ = cli("estimate", "--help", env={"COLUMNS": "200"})
    line = next(line for line in out.splitlines() if "job_path" in line and "<" in line)
    assert line.split("job_path")[1].split()[0] == PATH_METAVAR, line


# -- 3. dle-bert's launch is its own script ------------------------------------------------------------------------------
def test_dle_bert_emits_run_pretraining_not_megatron(tmp_path, cli):
    """``--emit torchrun`` on a dle-bert plan wrote Megatron-LM's pretrain_gpt.py (picked by its ZeRO stage, a GPT
    trainer with none of DLE's code) under "launcher style: megatron": it is NVIDIA's run_pretraining.py with the
    plan's per-GPU batch, accumulation, length, steps and fp16 flags."""
    job = {**BERT, "training": {**BERT["training"], "global_batch": 4096, "head_tokens_per_seq": 20}}
    code, out, err = cli("recommend", write_job(tmp_path, job), "--no-simulate", "--emit", "torchrun")
    assert code == 0, err
    assert "# launcher style: dle-bert" in out and "pretrain_gpt.py" not in out, out
    words = " ".join(out.replace("\\\n", " ").split())
    assert '"$DLE_BERT_DIR"/run_pretraining.py --do_train' in words, out
    # 4,096 sequences on 8 GPUs: 512 a GPU a step, two micro-batches of 256 (setup_training divides by the accumulation)
    for flag in ("--train_batch_size 512", "--gradient_accumulation_steps 2", "--max_seq_length 128",
                 "--max_predictions_per_seq 20", "--fp16 --allreduce_post_accumulation --allreduce_post_accumulation_fp16"):
        assert flag in words, (flag, out)
    assert "# note: the plan was priced for dle-bert's code" not in out


# -- 4. digits only Python reads ---------------------------------------------------------------------------------------
def test_pp_layout_refuses_arabic_indic_digits(tmp_path, cli):
    """``pp_layout: "Et*٨|t*٨|t*٨|t*٨L"`` ran as eight layers a stage (``\\d`` and ``int`` read U+0668 as 8)."""
    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 4096, "global_batch": 64, "tokens": 1e9,
                        "framework": {"name": "megatron-core", "pp_layout": "Et*٨|t*٨|t*٨|t*٨L"}},
           "parallel": {"tp": 1, "pp": 4, "dp": 2, "zero": 1},
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.framework.pp_layout: ") and "'٨' is no ASCII digit" in line, line


@pytest.mark.parametrize("value", ["٢", "２"])
def test_deadline_hours_flag_refuses_digits_only_python_reads(value):
    """``serve --deadline-hours ٢`` planned a 2-hour deadline: the flag's text went through ``float``."""
    from planner.errors import InputError
    from planner.spec.load import load_job_dict
    from planner.workloads.serving_settings import settings_for

    job = load_job_dict({"model": {"preset": "llama3-8b"},
                         "serving": {"mode": "batch", "requests": 1000, "prompt_tokens": 128, "output_tokens": 16}})
    with pytest.raises(InputError) as e:
        settings_for(job, deadline_hours=value)
    assert e.value.field == "--deadline-hours" and repr(value) in e.value.message, e.value.message


def test_event_bound_refuses_arabic_indic_digits_and_quotes_them_as_typed():
    """``--plan-event-bound ٥٠٠٠`` ran as 5,000 (and a refused one was quoted back as "got 5000")."""
    from planner.spec.schema import event_bound_value
    from planner.workloads.serving_settings import typed_number

    with pytest.raises(ValueError):
        event_bound_value("٥٠٠٠")
    assert event_bound_value("5000") == 5000
    assert typed_number("٥٠٠٠") == "٥٠٠٠" and typed_number("1e9") == 10**9 and typed_number("12.5") == 12.5


# -- 5. num_vocab_tiling on a classifier head ---------------------------------------------------------------------------
def test_vocab_tiling_on_a_classifier_says_it_changes_nothing(tmp_path, cli):
    """MaxText's num_vocab_tiling on BERT with a classifier head (2 labels on [CLS]) was taken silently, listed as
    "num_vocab_tiling=4" on the stack line and priced as four tiles: the stack tiles nothing there. Since QA 103
    MaxText refuses the encoder itself (stack rule ``maxtext-encoder``: its models are causal decoders), so the job is
    refused in one line and the tiles are pinned on the stack (``Stack.vocab_tiles``)."""
    from planner.model.stacks import resolve
    from planner.spec.presets import PRESETS
    from planner.spec.schema import ModelSpec

    job = {"model": {"preset": "bert-large", "output_head": "classifier", "num_labels": 2},
           "training": {"seq_len": 512, "global_batch": 256, "tokens": 1e9, "precision": "bf16",
                        "framework": {"name": "maxtext", "num_vocab_tiling": 4}},
           "parallel": {"tp": 1, "pp": 1, "zero": 3}, "cluster": {"gpu": "TPU-v5p", "gpus_per_node": 4, "nodes": 1}}
    line = refused(cli("estimate", write_job(tmp_path, job)))
    assert line.startswith("error: training.framework: MaxText refuses a model other than a causal decoder (an encoder or MLM head"), line
    st = resolve("maxtext", num_vocab_tiling=4)
    classifier = ModelSpec(**{**PRESETS["bert-large"], "output_head": "classifier", "num_labels": 2})
    assert st.vocab_tiles(classifier) == 1 and st.vocab_tiles(ModelSpec(**PRESETS["llama3-8b"])) == 4


# -- 6. V100 plans over several p3 nodes -------------------------------------------------------------------------------
def test_v100_multi_node_plan_says_its_network_and_wins_only_on_price(tmp_path, cli):
    """GPT-2 XL on V100s in 60 hours needs 4 nodes: the p3 rows cluster since QA 101. The cheapest plan is 4 x
    p3.16xlarge (25 Gb/s Ethernet), whose limits line names the network; it ranks over 4 x p3dn.24xlarge (100 Gb/s
    EFA, the faster step) only on its lower cost per token. Pins behaviour already right when QA 102 checked it
    (fails before QA 101, when no p3 row clustered)."""
    job = {"model": {"preset": "gpt2-xl"},
           "training": {"seq_len": 1024, "global_batch": 512, "precision": "fp16", "tokens": 3e10, "recompute": "none"},
           "parallel": {"tp": 1},
           "constraints": {"instances": ["aws:p3.16xlarge", "aws:p3dn.24xlarge"], "max_gpus": 32, "deadline_hours": 60,
                           "objective": "cost"}}
    d = answered(cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json"))
    rows = {(r["hardware"]["name"], r["hardware"]["nodes"]): r for r in d["ranked"]}
    best = d["best"]
    assert best["hardware"]["nodes"] > 1
    assert "on 25 Gb/s network" in best["bottleneck"], best["bottleneck"]
    p3, dn = rows[("aws:p3.16xlarge", 4)], rows[("aws:p3dn.24xlarge", 4)]
    assert dn["step_time_s"] < p3["step_time_s"]
    assert "100 Gb/s network" in dn["bottleneck"], dn["bottleneck"]
    costs = [r["cost"]["usd_per_million_tokens"] for r in d["ranked"]]
    assert costs == sorted(costs) and best["hardware"]["name"] == "aws:p3.16xlarge"
