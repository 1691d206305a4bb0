"""The CLI end to end: the estimate JSON contract, tables, CSV, catalog and presets."""
import os

import pandas as pd
import re

import pytest

from conftest import EXAMPLES, answered, refused

CONTRACT = ("params", "params_active", "flops_per_step", "hw_flops_per_step", "step_time_s", "tokens_per_s",
            "tokens_per_s_per_gpu", "mfu", "hfu", "fits", "memory_per_gpu_bytes", "breakdown_s")


def test_estimate_json_contract(cli):
    d = answered(cli("estimate", EXAMPLES / "llama3-8b-estimate.yaml", "--json"))
    for k in CONTRACT:
        assert k in d, k
    for k in ("total", "weights", "grads", "optimizer", "activations", "other"):
        assert d["memory_per_gpu_bytes"][k] >= 0
    parts = sum(v for k, v in d["breakdown_s"].items() if k != "compute")
    assert abs(parts - d["step_time_s"]) < 1e-6 * d["step_time_s"]
    assert d["params"] == 8_030_261_248  # Llama-3-8B, exact
    # HFU counts what the kernels execute (the causal flash kernel's half of the scores), MFU the full count
    assert 0 < d["hfu"] <= 1 and d["hfu"] / d["mfu"] == pytest.approx(d["hw_flops_per_step"] / d["flops_per_step"])


def test_estimate_table_mentions_limits_and_inputs(cli):
    code, out, _ = cli("estimate", EXAMPLES / "llama3-8b-estimate.yaml")
    assert code == 0
    for word in ("step time", "MFU", "memory per GPU", "where the step goes", "limits", "inputs:"):
        assert word in out


def test_bare_model_and_hf_config_recommend(cli):
    d = answered(cli("recommend", EXAMPLES / "bare-model.yaml", "--json", "--no-simulate", "--top", "3"))
    assert any("bare model" in a for a in d["assumptions"])
    assert d["best"]["fits"]
    code, out, _ = cli("estimate", EXAMPLES / "hf" / "qwen2.5-7b-config.json", "--json")
    # a bare config has no cluster: estimate says what is missing instead of guessing
    assert code == 2


def test_recommend_csv(cli, tmp_path):
    f = tmp_path / "ranked.csv"
    # the MoE example on one cloud and up to 128 GPUs: the same columns and EP choices, a third of the search
    job = tmp_path / "mixtral.yaml"
    job.write_text((EXAMPLES / "mixtral-8x7b.yaml").read_text().replace("clouds: [aws, gcp, azure]", "clouds: [aws]")
                   .replace("max_gpus: 512", "max_gpus: 128"))
    assert "clouds: [aws]," in job.read_text() and "max_gpus: 128" in job.read_text()
    code, out, err = cli("recommend", job, "--csv", f, "--no-simulate", "--top", "3")
    assert code == 0, err
    df = pd.read_csv(f)
    assert {"hardware", "nodes", "tp", "pp", "ep", "step_time_s", "cost", "pareto"} <= set(df.columns)
    assert (df["ep"] > 1).any()
    assert "recommended:" in out


def test_catalog_tables(cli):
    code, out, _ = cli("catalog", "gpus")
    assert code == 0 and "H100" in out and "MI300X" in out
    code, out, _ = cli("catalog", "instances", "--cloud", "aws")
    assert code == 0 and "p5.48xlarge" in out and "gcp" not in out.lower().split("aws")[0]
    code, out, _ = cli("catalog", "instances", "--csv")
    assert code == 0 and out.startswith("key,")
    code, _, err = cli("catalog", "instances", "--cloud", "nocloud")
    assert code == 2 and "--cloud" in err
    for what in ("gpus", "systems", "links"):  # the README's `catalog gpus|instances|links|systems [--csv]`
        code, out, err = cli("catalog", what, "--csv")
        assert code == 0 and out.splitlines()[0].split(",")[0] in ("name", "key"), (what, err)


def test_catalog_csv_counts_are_integers(cli):
    """`catalog instances --csv` wrote `1.0` GPUs and `8.0` vCPUs (pandas holds a column with a missing value
    as float); `catalog systems --csv` wrote `6144.0` chips. Counts are whole numbers; a missing one is empty."""
    import csv
    import io

    for what, cols in (("instances", ("gpu_count", "vcpus")), ("systems", ("gpu_count", "gpus_per_host", "max_chips"))):
        code, out, err = cli("catalog", what, "--csv")
        assert code == 0, err
        rows = list(csv.DictReader(io.StringIO(out)))
        for c in cols:
            vals = [r[c] for r in rows]
            assert all(v == "" or v.isdigit() for v in vals), (what, c, sorted(set(vals))[:5])
            assert any(v.isdigit() for v in vals), (what, c)
        if what == "instances":
            assert "" in [r["vcpus"] for r in rows]  # a missing count stays missing, not 0
            p5 = next(r for r in rows if r["key"] == "aws:p5.48xlarge")
            assert (p5["gpu_count"], p5["vcpus"]) == ("8", "192")
        else:  # GiB from bytes: 448 GB is 417.2 GiB, not the round trip's 417.19999999925494
            v5p = next(r for r in rows if r["key"] == "google:tpu-v5p-host")
            assert v5p["ram_gib"] == "417.2"


def test_catalog_gpus_table_keeps_names_whole_and_one_line_per_gpu():
    """The names are what people copy into cluster.gpu: the table cut them ("B200-SXM-180…", "A100-PCIe-40…")
    and wrapped each row's form factor over up to five lines (95 lines for 38 GPUs at 150 columns)."""
    from rich.console import Console

    from hardware_catalog import load_catalog
    from hardware_catalog.tables import format_gpus_table

    cat = load_catalog()
    con = Console(width=150, record=True, file=open(os.devnull, "w"))
    con.print(format_gpus_table(cat))
    text = con.export_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("│")]
    assert len(rows) == len(cat.gpus), len(rows)
    for g in cat.gpus.values():
        assert f"│ {g.name} " in text, g.name
    # a part without bf16 shows its fp16 peak, marked (the column read "-" for V100 and T4)
    v100 = next(r for r in rows if r.startswith("│ V100-SXM2-16GB "))
    assert "125 (FP16)" in v100
    assert "(FP16)" not in next(r for r in rows if r.startswith("│ H100-SXM-80GB "))


def test_catalog_gpus_shows_the_fp8_peak_plans_use(cli):
    """H100 SXM 96 GB's row quotes no fp8 peak; its FP8 plans run at the derived 2x BF16 (1,600), which the
    table showed as "-". A part without FP8 (A100) keeps "-"; a quoted peak is unmarked."""
    code, out, err = cli("catalog", "gpus")
    assert code == 0, err
    row = {ln.split("│")[1].strip(): ln for ln in out.splitlines() if ln.startswith("│")}
    assert "1,600 (2x BF16)" in row["H100-SXM-96GB"]
    assert "(2x BF16)" not in row["H100-SXM-80GB"] and "1,979" in row["H100-SXM-80GB"]
    assert "2x BF16" not in row["A100-SXM-80GB"]


def test_presets_listed(cli):
    code, out, _ = cli("presets")
    assert code == 0
    for name in ("llama3-70b", "mixtral-8x7b", "gpt3-175b", "bert-base", "resnet50", "vit-b16", "qwen2.5-7b"):
        assert name in out


@pytest.mark.parametrize("args,field", [
    (["simulate", "examples/llama3-8b-estimate.yaml", "--steps", "-3"], "--steps"),
    (["recommend"], "job_path"),
    (["estimate", "examples/llama3-8b-estimate.yaml", "--bogus"], "--bogus"),
    (["frobnicate"], "error: frobnicate: "),
    (["catalog", "gpuz"], "error: gpuz: No such command 'gpuz'. Did you mean 'gpus'?"),  # click's suggestion
    (["estimate", "examples/llama3-8b-estimate.yaml", "--bogus"], "error: --bogus: "),
    (["recommend", "examples/llama3-8b-estimate.yaml", "--top"], "error: --top: "),
    (["catalog", "systems", "--cloud", "aws"], "error: --cloud: "),
])
def test_usage_errors_are_one_line_exit_2(main_cli, args, field):
    """What the console script does (planner.cli.main): a usage error is one line naming the
    option, exit code 2, no help panel and no traceback."""
    from conftest import ROOT

    code, _, err = main_cli(*args, cwd=ROOT)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and field in lines[0], err
    assert "Traceback" not in err and "╭" not in err


def test_python_dash_m_planner_is_the_cli(main_cli):
    """``python -m planner`` runs the same CLI as the console script (it used to fail with "No module
    named planner.__main__"), and usage lines name ``planner``, not the interpreter's argv[0]. One process
    (``--help``) shows the module runs the app; the command through the same entry point runs in-process."""
    import subprocess
    import sys

    from conftest import ROOT

    code, out, err = main_cli("presets", cwd=ROOT)
    assert code == 0, err
    assert "llama3-8b" in out
    r = subprocess.run([sys.executable, "-m", "planner", "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "Usage: planner " in r.stdout, r.stdout


def test_search_error_is_exactly_one_stderr_line(main_cli, tmp_path):
    """A search that finds nothing, run as scripts run it (stderr not a terminal: the in-process run's stderr is a
    StringIO, which rich reads as a pipe): stderr is the one `error:` line. The progress bar, drawn to a
    non-terminal, used to leave a blank line before it (tests/test_cli_entry.py runs the same path in a process)."""
    from conftest import ROOT

    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1.0e12}\n"
                   "constraints: {gpus: [H100-SXM-80GB], clouds: [aws], max_gpus: 8, deadline_hours: 0.01}\n")
    code, out, err = main_cli("recommend", job, cwd=ROOT)
    assert code == 2, err
    assert err.startswith("error: constraints.deadline_hours:"), repr(err[:200])
    assert len(err.strip("\n").splitlines()) == 1 and out == ""


def test_estimate_names_a_bare_cluster_node_and_the_memory_limit(cli, tmp_path):
    """A bare-GPU cluster has no instance name: the summary said "2 x GB200-B200 (144 x GB200-B200)" (two GPUs?)
    and "256 x H100-SXM-80GB (2048 x ...)"; "fits" printed the capacity while it is decided against the limit
    (capacity less the headroom), and a bare GPU's cost read "- on-demand, - spot"."""
    gb = tmp_path / "gb200.yaml"
    gb.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 144, tokens: 1.0e10}\n"
                  "parallel: {tp: 1, pp: 1, zero: 1}\ncluster: {gpu: GB200, nodes: 2}\n")
    code, out, _ = cli("estimate", gb)
    assert code == 0
    assert "2 x nvidia:DGX-GB200-NVL72 (144 x GB200-B200)" in out
    h100 = tmp_path / "h100.yaml"
    h100.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 32, tokens: 1.0e10}\n"
                    "parallel: {tp: 1, pp: 1, zero: 1}\ncluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 4}\n")
    code, out, _ = cli("estimate", h100)
    assert code == 0
    assert "4 nodes x 8 H100-SXM-80GB (32 GPUs)" in out
    assert "of 76.0 allowed: 80 GiB less 5% headroom" in out
    # the memory table states the limit "fits" is judged against, not only the HBM ("total 50.33 of 80")
    assert re.search(r"allowed \(5% headroom\)\s+│\s+76\.00", out), out
    assert "no price for a bare GPU" in out and "- on-demand" not in out


@pytest.mark.parametrize("framework,advised", [("megatron-core", False), ("hf-trainer", True)])
def test_vocab_padding_advice_only_where_the_stack_does_not_pad(cli, tmp_path, framework, advised):
    """Megatron-LM pads the vocabulary to a multiple of 128 x TP itself (--make-vocab-size-divisible-by,
    tokenizer.py _vocab_size_with_padding), so "pad the vocabulary" was advice a Megatron user cannot act on
    (it was in the README's first run); HF model code keeps the model's vocabulary, so it still gets it."""
    job = tmp_path / "job.yaml"
    job.write_text("model: {family: decoder, layers: 4, hidden: 1024, heads: 8, kv_heads: 8, ffn_hidden: 2816, "
                   "vocab: 50257}\n"
                   f"training: {{seq_len: 2048, global_batch: 8, precision: bf16, tokens: 1.0e9, framework: {framework}}}\n"
                   # each stack's own data parallelism: Megatron's distributed optimizer, the HF Trainer's DDP (it has no
                   # ZeRO-1, rule hf-trainer-zero1)
                   f"parallel: {{tp: 1, pp: 1, zero: {1 if framework == 'megatron-core' else 0}}}\n"
                   "cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 1}\n")
    vocab_advice = [a for a in answered(cli("estimate", job, "--json"))["advice"] if "vocab" in a]
    assert bool(vocab_advice) == advised, vocab_advice


def test_does_not_fit_names_the_limit_it_was_judged_against(cli, tmp_path):
    """78.1 GiB on an 80 GiB H100 is over the 76.0 GiB limit (5% headroom): the advice said "needs 78.1 GiB of
    80 GiB", which reads as fitting. (The unfused loss keeps the plan in that window: tece37's native fused loss, 10 B
    a logit, took it past the 80 GiB.)"""
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 4096, global_batch: 64, micro_batch: 1, "
                   "precision: bf16, recompute: none, tokens: 1.0e10, "
                   "framework: {name: megatron-core, cross_entropy_fusion: none}}\nparallel: {tp: 1, pp: 1, zero: 1}\n"
                   "cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 1}\n")
    res = answered(cli("estimate", job, "--json"))
    mem = res["memory_per_gpu_bytes"]
    assert not res["fits"] and mem["limit"] < mem["total"] < mem["capacity"]
    line = next(a for a in res["advice"] if a.startswith("does not fit"))
    assert f"{mem['limit'] / 2**30:.1f} GiB allowed" in line, line


def test_outputs_never_replace_the_commands_inputs(cli, tmp_path):
    """`recommend job.yaml --csv job.yaml` replaced the job file with the CSV (and `--csv` onto a --catalog
    override, or through a link to the job, likewise): an input is refused as an output, exit 2, untouched."""
    import os

    job = tmp_path / "job.yaml"
    text = "model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1.0e9}\n" \
           "constraints: {gpus: [H100-SXM-80GB], clouds: [aws], max_gpus: 8}\n"
    job.write_text(text)
    link = tmp_path / "plans.csv"
    os.symlink(job, link)
    for target in (job, link):
        code, out, err = cli("recommend", job, "--csv", target)
        assert code == 2 and err.startswith("error: --csv:") and "input of this command" in err, err
        assert len(err.strip().splitlines()) == 1
        assert job.read_text() == text
    cat = tmp_path / "cat.yaml"
    cat.write_text("gpus: []\n")
    code, _, err = cli("recommend", job, "--csv", cat, "--catalog", cat)
    assert code == 2 and "input of this command" in err and cat.read_text() == "gpus: []\n"


@pytest.mark.parametrize("args", [[], ["catalog"]])
def test_no_arguments_prints_help_without_an_empty_error_line(main_cli, args):
    """`planner` / `planner catalog` alone print the help; stderr used to get a bare "error: " line."""
    from conftest import ROOT

    _, out, err = main_cli(*args, cwd=ROOT)
    assert "Usage: planner" in out
    assert "error" not in err, err


def test_report_on_an_unpriced_cluster_says_it_has_no_price(cli, tmp_path):
    """The report's first line read "Rent 2 x ... : 30.0 d to train for - (on-demand)"."""
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1.0e9}\n"
                   "parallel: {tp: 1, pp: 1}\ncluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 1}\n")
    out = tmp_path / "r.md"
    code, _, err = cli("report", job, "-o", out, "--no-simulate")
    assert code == 0, err
    first = out.read_text().split("## Recommendation", 1)[1].strip().splitlines()[0]
    assert first.startswith("Run on 1 node x 8 H100-SXM-80GB (8 GPUs)") and "no price" in first, first
    assert "for -" not in first


@pytest.mark.parametrize("command", ["estimate", "recommend", "simulate"])
def test_a_serving_job_is_not_planned_as_pretraining(cli, tmp_path, command):
    """A job with a serving section and no training section went through estimate/recommend/simulate as
    pre-training on defaulted tokens (recommend --emit slurm wrote a pretrain_gpt.py launch for it)."""
    job = tmp_path / "serve.yaml"
    job.write_text("model: {preset: gpt2}\nserving: {p99_latency_ms: 60, qps: 5, prompt_tokens: 500, output_tokens: 100, "
                   "max_batch: 32}\ncluster: {instance: aws:p5.48xlarge, nodes: 1}\n")
    code, out, err = cli(command, job)
    assert code == 2 and out == "" and err.startswith("error: serving:") and "planner serve" in err, err
    both = tmp_path / "both.yaml"  # a training section says training is the question
    both.write_text(job.read_text() + "training: {seq_len: 1024, global_batch: 64, tokens: 1.0e8}\nparallel: {tp: 1, pp: 1}\n")
    code, _, err = cli(command, both, *(["--steps", "5"] if command == "simulate" else []))
    assert code == 0, err


def test_long_context_mfu_says_what_the_causal_kernel_executes(cli, tmp_path):
    """MFU counts causal attention in full (PaLM App. B), so at 1M tokens it passes what a GPU executes
    (Llama-3-8B, CP 8: MFU 90%) with nothing said; HFU counts the executed half (54%, was 105%). The masked share is checked by hand: forward
    linear 2 x 7.50e9 FLOPs per token (8.03e9 params less the 0.525e9 input embedding), attention in full
    4 L h s = 5.50e11; causal keeps half of it: (1.50e10 + 2.75e11) / (1.50e10 + 5.50e11) = 0.513."""
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 1048576, global_batch: 8, micro_batch: 1, "
                   "precision: bf16, recompute: none, tokens: 1.0e10, framework: {name: megatron-core, "
                   "activation_offload: true}}\nparallel: {tp: 4, pp: 1, cp: 8, zero: 1}\n"
                   "cluster: {instance: aws:p5.48xlarge, nodes: 32}\n")
    res = answered(cli("estimate", job, "--json"))
    line = next(a for a in res["advice"] if "counts causal attention in full" in a)
    lin, attn = 2 * (8.030e9 - 128256 * 4096), 4 * 32 * 4096 * 1048576
    kept = (lin + attn / 2) / (lin + attn)
    assert f"{1 - kept:.0%} of the model FLOPs" in line, line
    assert f"about {res['mfu'] * kept:.0%} of peak" in line, line
    assert f"HFU {res['hfu']:.0%} counts what the kernels run" in line and res["hfu"] < 0.6, line
    plain = answered(cli("estimate", EXAMPLES / "llama3-8b-estimate.yaml", "--json"))  # 8K tokens: not said
    assert not any("causal attention in full" in a for a in plain["advice"])


def test_emitted_plan_line_of_a_bare_cluster(cli, tmp_path):
    """The launch spec's first comment read "..., 30.0 d, - on-demand" for an unpriced bare-GPU plan, and named
    the hardware as "2 x GB200-B200 (144 x GB200-B200)"; hosts and GPUs per host are the GB200 trays. Since gbprice42
    a bare GB200 NVL72 plan is priced at the cheapest shipped rack-hour rate (CoreWeave's $756 a rack-hour: 53.0 min
    on 2 racks, $1.34k); GB300 has no sourced rate and still says so."""
    def first_line(gpu):
        job = tmp_path / f"{gpu}.yaml"
        job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 144, tokens: 1.0e10}\n"
                       f"parallel: {{tp: 1, pp: 1, zero: 1}}\ncluster: {{gpu: {gpu}, nodes: 2}}\n")
        code, out, err = cli("recommend", job, "--emit", "torchrun", "--no-simulate")
        assert code == 0, err
        assert "--nnodes=36 --nproc-per-node=4" in out
        return out.splitlines()[0]

    first = first_line("GB200")
    assert first.startswith("# planner plan: 2 x nvidia:DGX-GB200-NVL72 (144 x GB200-B200)"), first
    assert first.endswith("53.0 min, $1.34k on-demand"), first
    first = first_line("GB300")
    assert first.startswith("# planner plan: 2 x nvidia:GB300-NVL72 (144 x GB300-B300)"), first
    assert first.endswith("no price (bare GPU)") and "- on-demand" not in first, first


def test_serve_errors_name_the_option_the_user_gave(cli, tmp_path):
    """`serve --precisions foo` said "error: precisions: ..." and a bad `--trace` "error: trace: ...": the field
    is the option typed (or serving.trace when the job file names the trace)."""
    job = tmp_path / "serve.yaml"
    job.write_text("model: {preset: gpt2}\nserving: {p99_latency_ms: 60, qps: 5, prompt_tokens: 500, output_tokens: 100}\n"
                   "constraints: {instances: [aws:p5.48xlarge]}\n")
    bad = tmp_path / "t.csv"
    bad.write_text("arrival_s,prompt_tokens,output_tokens\n0,100,10\nabc,1,1\n")
    code, _, err = cli("serve", job, "--precisions", "foo", "--no-simulate")
    assert code == 2 and err.startswith("error: --precisions: "), err
    code, _, err = cli("serve", job, "--trace", bad)
    assert code == 2 and err.startswith("error: --trace: line 3"), err
    job.write_text(job.read_text().replace("output_tokens: 100}", "output_tokens: 100, trace: t.csv}"))
    code, _, err = cli("serve", job)
    assert code == 2 and err.startswith("error: serving.trace: line 3"), err


def test_by_framework_without_auto_fails_before_printing(cli, tmp_path):
    """`recommend --by framework` on a job that does not search stacks printed the whole recommendation, then
    "error: --by: ..." and exit 2: an error must come with nothing on stdout."""
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1.0e9}\n"
                   "constraints: {gpus: [H100-SXM-80GB], clouds: [aws], max_gpus: 8}\n")
    code, out, err = cli("recommend", job, "--by", "framework", "--no-simulate")
    assert code == 2 and err.startswith("error: --by:") and out == "", (out[:200], err)


def test_a_refused_emit_writes_no_csv(cli, tmp_path):
    """`--csv plans.csv --emit torchrun:fsdp` on a ZeRO-1 winner wrote the CSV, then refused the launch spec
    with exit 2: an error leaves nothing written."""
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1.0e9}\n"
                   "parallel: {zero: 1}\nconstraints: {gpus: [H100-SXM-80GB], clouds: [aws], min_gpus: 8, max_gpus: 8}\n")
    csv = tmp_path / "plans.csv"
    code, out, err = cli("recommend", job, "--csv", csv, "--emit", "torchrun:fsdp", "--no-simulate")
    assert code == 2 and err.startswith("error: --emit:"), err
    assert not csv.exists() and out == ""


def test_ranking_table_names_its_price_and_a_rack_node(cli, tmp_path):
    """README: the cost column is "at the price named in the title" (the title named none); a bare GB200
    cluster's row read "GB200-B200 | 2" (two GPUs?) where a node is a 72-GPU NVL72 rack."""
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 144, tokens: 1.0e10}\n"
                   "parallel: {tp: 1, pp: 1, zero: 1}\ncluster: {gpu: GB300, nodes: 2}\n")
    code, out, err = cli("recommend", job, "--no-simulate")
    assert code == 0, err
    # the title (it may wrap); no GB300 rack price is known, so none is named over the cost column's dashes (QA 58;
    # GB200 until gbprice42 priced its rack)
    assert "no price known" in " ".join(out.split("┏")[0].split())
    assert "│ nvidia:GB300-NVL72 │     2 │" in out


def test_spot_on_a_priced_bare_gpu_says_the_plans_are_unpriced(cli, tmp_path):
    """Review find: constraints.spot with a bare cluster.gpu priced by cluster.price_usd_hr (an
    on-demand rate; no spot rate exists for it) gave unpriced plans ranked by time, and the
    terminal said only "no price known for any option". A caveat line now says why and what to do;
    without spot the plans are costed at the price and no such line is printed."""
    job = tmp_path / "bare.yaml"
    body = ("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, tokens: 1.0e11}\n"
            "parallel: {tp: 2, pp: 1}\ncluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 2, price_usd_hr: 20}\n")
    job.write_text(body + "constraints: {spot: true}\n")
    for args in (("recommend", "--no-simulate"), ("compare",)):
        code, out, err = cli(args[0], job, *args[1:])
        assert code == 0, err
        text = " ".join(out.split())
        assert "moves the ranking: constraints.spot: no spot price for these plans — cluster.price_usd_hr is an on-demand rate" in text, text
    assert any(c.startswith("constraints.spot: no spot price")
               for c in answered(cli("recommend", job, "--no-simulate", "--json"))["caveats"])
    job.write_text(body)
    code, out, err = cli("recommend", job, "--no-simulate")
    assert code == 0 and "constraints.spot" not in out, err


def test_gpus_listed_but_left_out_are_a_caveat_and_all_left_out_is_an_error(cli, tmp_path):
    """Review find: a GPU named in constraints.gpus that the search drops (no fp8 peak, no priced
    instance, a stack that does not run on it) was said only among the assumptions. It is now a
    "moves the ranking:" line (and in --json caveats); when every listed GPU is dropped the error
    names constraints.gpus and each GPU's reason (it named training.precision / training.framework)."""
    def job(gpus, precision="bf16", clouds="aws", extra=""):
        p = tmp_path / "job.yaml"
        p.write_text("model: {preset: gpt2}\ntraining: {seq_len: 1024, global_batch: 64, tokens: 1.0e9, precision: %s%s}\n"
                     "constraints: {clouds: [%s], gpus: [%s], max_gpus: 8}\n" % (precision, extra, clouds, gpus))
        return p
    code, out, err = cli("recommend", job("H100-SXM-80GB, A100-SXM-80GB", "fp8"), "--no-simulate")
    assert code == 0, err
    assert "moves the ranking: constraints.gpus: left out — A100-SXM-80GB: no fp8 peak" in " ".join(out.split()), out
    plan = answered(cli("recommend", job("H100-SXM-80GB, A100-SXM-80GB", "fp8"), "--no-simulate", "--json"))
    assert any(c == "constraints.gpus: left out — A100-SXM-80GB: no fp8 peak" for c in plan["caveats"])
    code, out, err = cli("recommend", job("H100-SXM-80GB"), "--no-simulate")
    assert code == 0 and "constraints.gpus: left out" not in out, err
    for gpus, precision, clouds, extra, names in (
            ("Trainium2, A100-SXM-80GB", "fp8", "aws", "", ("Trainium2", "A100-SXM-80GB: no fp8 peak")),
            ("TPU-v5p", "bf16", "gcp", ", framework: {name: megatron-core}", ("TPU-v5p: megatron-core does not run on", "maxtext"))):
        line = refused(cli("recommend", job(gpus, precision, clouds, extra), "--no-simulate"))
        assert line.startswith("error: constraints.gpus: every GPU it lists is left out"), line
        assert all(n in line for n in names), line


def test_single_node_slice_above_max_gpus_blames_max_gpus(cli, tmp_path):
    """A 512-chip TPU v5p slice (one catalog "node") under max_gpus 64 was refused as "below min_gpus=1"."""
    job = tmp_path / "job.yaml"
    job.write_text("model: {preset: llama3-8b}\ntraining: {seq_len: 8192, global_batch: 256, precision: bf16, "
                   "tokens: 1e11}\nconstraints: {gpus: [TPU-v5p], clouds: [gcp], instances: [gcp:tpu-v5p-1024], "
                   "max_gpus: 64}\n")
    code, out, err = cli("recommend", job, "--no-simulate")
    assert code == 2 and err.startswith("error: constraints.max_gpus: max_gpus=64 is smaller than"), err
    assert "gcp:tpu-v5p-1024" in err  # a multislice row now (one slice is its node): "smaller than one ... node"
    assert "512 chips" in err and len(err.strip().splitlines()) == 1


def test_catalog_json_for_scripts(cli):
    """`planner catalog gpus|instances|systems|links --json` (qa11: the catalog had --csv only): one JSON object per
    row, the same rows and columns as --csv, numbers as numbers (links' "2400" too), missing values null, floats to
    10 significant figures (A10G 22.35 GiB), URLs unescaped; --json with --csv is one error line."""
    import csv as _csv
    import io
    import json as _json

    for what in ("gpus", "instances", "systems", "links"):
        code, out, err = cli("catalog", what, "--json")
        assert code == 0, err
        rows = _json.loads(out)
        code, text, _ = cli("catalog", what, "--csv")
        table = list(_csv.DictReader(io.StringIO(text)))
        assert len(rows) == len(table) and list(rows[0]) == list(table[0]), what
        assert "\\/" not in out and "NaN" not in out, what
    gpus = {r["name"]: r for r in answered(cli("catalog", "gpus", "--json"))}
    assert gpus["A10G-24GB"]["memory_gib"] == 22.35 and gpus["V100-SXM2-16GB"]["bf16_tflops"] is None
    links = answered(cli("catalog", "links", "--json"))
    assert all(isinstance(r["gbps_per_dir"], (int, float)) for r in links)
    code, out, err = cli("catalog", "gpus", "--json", "--csv")
    assert code == 2 and err.strip() == "error: --json: --json and --csv each replace the table: choose one"
