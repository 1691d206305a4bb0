"""QA pass 39b: what QA 39 saw and left -- each with the check that failed before its fix."""
from __future__ import annotations

import re

import pytest

from conftest import one_error_line, write_job


# ---- 1. enumerated values were case-sensitive where the catalog's names are not -----------------------------------
# `--arrivals MMPP` and `serving.precision: BF16` were refused while `constraints.clouds: [AWS]` was taken; every
# enumerated value now folds as the catalog's names do (vocab.Vocab.canonical) and becomes the canonical spelling
def test_enumerated_job_fields_take_any_case_and_keep_the_canonical_spelling(tmp_path):
    from planner.errors import InputError
    from planner.spec import load_job

    job = load_job(write_job(tmp_path, {
        "model": {"preset": "llama3-8b"},
        "training": {"precision": "BF16", "recompute": "Full", "optimizer": "AdamW",
                     "framework": {"name": "TorchTitan", "cuda_graph_scope": ["Attn"]}},
        "parallel": {"schedule": "1F1B"},
        "constraints": {"objective": " Cost", "clouds": ["AWS"]}}))
    assert (job.training.precision, job.training.recompute, job.training.optimizer, job.training.framework.name,
            job.training.framework.cuda_graph_scope, job.parallel.schedule, job.constraints.objective) == \
        ("bf16", "full", "adamw", "torchtitan", ["attn"], "1f1b", "cost")
    serving = load_job(write_job(tmp_path, {
        "model": {"preset": "llama3-8b"},
        "serving": {"p99_latency_ms": 50, "qps": 4, "precision": "BF16", "arrivals": "MMPP", "engine": "vLLM",
                    "kv_precision": "FP8"}})).serving
    assert (serving.precision, serving.arrivals.kind, serving.engine, serving.kv_precision) == ("bf16", "mmpp", "vllm", "fp8")
    # a value that is none of the names is refused with the names as the vocabulary spells them
    with pytest.raises(InputError) as e:
        load_job(write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                                      "serving": {"p99_latency_ms": 50, "qps": 4, "arrivals": "Bursty"}}))
    assert str(e.value) == "serving.arrivals: must be one of poisson, mmpp, got 'Bursty'", str(e.value)


def test_fp4_in_capitals_is_still_the_nvfp4_alias(tmp_path):
    from planner.spec import load_job

    job = load_job(write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "training": {"precision": "FP4"}}))
    assert (job.training.precision, job.training.framework.fp8_recipe) == ("fp8", "nvfp4")


def test_the_cli_options_over_a_vocabulary_fold_as_the_job_fields_do(tmp_path, cli):
    from planner.cli import _serve_flags

    assert _serve_flags("MMPP", "BF16, Fp8") == ("mmpp", ["bf16", "fp8"])
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "serving": {"p99_latency_ms": 50, "qps": 4}})
    code, out, err = cli("serve", job, "--no-simulate", "--precisions", "FP8", "--json")
    assert code == 0, err
    line = one_error_line(cli("serve", job, "--arrivals", "Bursty")[2])
    assert line == "error: --arrivals: must be one of poisson, mmpp (or give --trace), got 'Bursty'", line


# ---- 2. a folder given for the report was refused for its suffix -------------------------------------------------
# `report -o /tmp` read "tmp: the report is .html or .md (got 'no suffix')"; a folder is named as one, with a file name
def test_a_folder_given_for_the_report_is_named_as_a_folder(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    line = one_error_line(cli("report", job, "--no-simulate", "-o", tmp_path)[2])
    assert line == f"error: --out: {tmp_path} is a folder; give a file name such as {tmp_path / 'report.md'}", line


# ---- 4. a calibration profile without .json was written ------------------------------------------------------------
# `calibrate -o profile` measured and wrote a profile named "profile"; the suffix is checked as the report's is, before
# measuring (outputs.PROFILE), and `python -m calibration -o` keeps the same rule
def test_a_profile_without_json_is_refused_before_measuring(tmp_path, monkeypatch, cli):
    import calibration.bench as bench
    from planner.outputs import PROFILE, output_target

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench, "run_calibration", lambda **kw: pytest.fail("measured before checking -o"))
    line = one_error_line(cli("calibrate", "-o", "profile", "--device", "cpu", "--quick")[2])
    assert line == "error: --out: profile: the calibration profile is .json (got 'no suffix')", line
    assert output_target(tmp_path / "p.JSON", "--out", kind=PROFILE).name == "p.JSON"  # any case, as the report's
    assert list(tmp_path.iterdir()) == []


# ---- 5. simulate printed "0 tokens/s" beside "1.447e-11 samples/s" ------------------------------------------------------
# the token rate was a whole number (",.0f") beside the sample rate's significant figures; both are fmt_sig now, as are
# the loader answers' rates
def test_a_tiny_token_rate_is_printed_in_significant_figures(tmp_path, cli):
    job = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                               "training": {"seq_len": 8192, "global_batch": 2, "micro_batch": 1, "tokens": 1e9},
                               "parallel": {"tp": 8, "pp": 1, "dp": 2},
                               "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2, "inter_node_gbps": 0.001}})
    code, out, err = cli("simulate", job, "--steps", "2", "--no-answers")
    assert code == 0, err
    line = next(l for l in out.splitlines() if "samples/s" in l)
    assert "0.000008821 samples/s   0.07226 tokens/s" in line, line


# ---- 6. explain's causal-count line read training.flash_attention, not the stack's kernel ----------------------------
# since small32b gpt-oss on the Hugging Face stacks runs eager sink attention whatever flash_attention says
# (stack_kernels.eager_sink_attention): the full matrix runs (HFU 1.3% above MFU 1.0%), yet the advice said "the causal kernel
# skips its masked half"; explain now asks stack_kernels.fused_attention, as the step time does
@pytest.mark.parametrize("framework, said", [("hf-trainer", False), ("torchtitan", True)])
def test_the_causal_count_line_follows_the_stacks_attention_kernel(tmp_path, cli, framework, said):
    import json

    from planner.search.explain import causal_count_lines
    from planner.spec import load_job

    path = write_job(tmp_path, {"model": {"preset": "gpt-oss-20b"},
                                "training": {"seq_len": 65536, "global_batch": 8, "micro_batch": 1, "tokens": 1e9,
                                             "framework": framework, "recompute": "full"},
                                "parallel": {"tp": 1, "pp": 1, "cp": 1, "ep": 1, "zero": 3},
                                "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    code, out, err = cli("estimate", path, "--json")
    assert code == 0, err
    res = json.loads(out)
    res = res.get("result", res)
    lines = [a for a in res["advice"] if "counts causal attention in full" in a]
    assert bool(lines) == said, res["advice"]
    assert bool(causal_count_lines(load_job(path), res)) == said  # the app's path (interactive.mfu_shown): no stack given


# ---- 3. report --force kept the earlier report's extra charts --------------------------------------------------------
# a Markdown report over an earlier one of the same name left that run's charts the new one does not write in
# <name>_files/; the folder lists what each write put there (outputs.FOLDER_MANIFEST, with SHA-256s) and --force removes
# only the listed files this run does not write that still hold the listed bytes -- nothing of the user's
def test_a_forced_write_removes_only_the_earlier_writes_unchanged_files(tmp_path):
    from planner.outputs import FOLDER_MANIFEST, write_outputs

    d = tmp_path / "r_files"
    write_outputs({d / "a.svg": "a", d / "b.svg": "b", d / "c.svg": "c", tmp_path / "r.md": "one"}, "--out", [d])
    (d / "c.svg").write_text("edited by hand")
    (d / "mine.txt").write_text("the user's")
    with pytest.raises(Exception):  # without --force nothing is replaced, nothing removed
        write_outputs({d / "a.svg": "a2", tmp_path / "r.md": "two"}, "--out", [d])
    assert sorted(p.name for p in d.iterdir()) == [FOLDER_MANIFEST, "a.svg", "b.svg", "c.svg", "mine.txt"]
    assert write_outputs({d / "a.svg": "a2", tmp_path / "r.md": "two"}, "--out", [d], force=True) == \
        [d / "a.svg", tmp_path / "r.md"]
    assert sorted(p.name for p in d.iterdir()) == [FOLDER_MANIFEST, "a.svg", "c.svg", "mine.txt"]
    assert (d / "c.svg").read_text() == "edited by hand" and (d / "mine.txt").read_text() == "the user's"
    # a list that names files outside the folder, or itself, removes nothing there
    (d / FOLDER_MANIFEST).write_text('{"files": {"../r.md": "x", "/etc/passwd": "x", ".planner-files.json": "x"}}')
    write_outputs({d / "a.svg": "a3", tmp_path / "r.md": "three"}, "--out", [d], force=True)
    assert (tmp_path / "r.md").read_text() == "three" and (d / "a.svg").read_text() == "a3"


def test_report_force_leaves_only_this_runs_charts(tmp_path, cli):
    from planner.outputs import FOLDER_MANIFEST

    training = write_job(tmp_path, {"model": {"preset": "llama3-8b"},
                                    "training": {"seq_len": 8192, "global_batch": 256, "tokens": 1e12},
                                    "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2}}, "t.yaml")
    serving = write_job(tmp_path, {"model": {"preset": "llama3-8b"}, "serving": {"p99_latency_ms": 50, "qps": 4},
                                   "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB"]}}, "s.yaml")
    code, out, err = cli("report", training, "--no-simulate", "-o", tmp_path / "r.md")
    assert code == 0, err
    charts = sorted(p.name for p in (tmp_path / "r_files").iterdir() if p.name != FOLDER_MANIFEST)
    assert charts
    (tmp_path / "r_files" / charts[0]).write_text("edited by hand")
    code, out, err = cli("report", serving, "--no-simulate", "-o", tmp_path / "r.md", "--force")
    assert code == 0, err
    # the serving review draws its own chart since review34 (serving_cost.svg): the report links this run's charts
    # only; the training run's charts the planner wrote are gone, the one edited by hand is kept
    mine = set(re.findall(r"r_files/([\w.-]+)", (tmp_path / "r.md").read_text()))
    assert mine and not mine & set(charts)
    assert sorted(p.name for p in (tmp_path / "r_files").iterdir()) == sorted({FOLDER_MANIFEST, charts[0]} | mine)
