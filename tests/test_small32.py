"""small32 leftovers. Each check fails on the code before."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import answered, refused, write_job
from planner.model import stack_rules

ROOT = Path(__file__).resolve().parents[1]


# ---- 1. MOE_ONLY_OPTIONS is vocabulary: planner.vocab, not the job loader -------------------------------------------
def test_moe_only_options_live_in_the_vocabulary():
    """The stack registry (planner.model.stacks) imported the table from the job loader (planner.spec.load): a model
    module reaching into the loader for a vocabulary table. It is vocabulary, in the foundations layer both import."""
    from planner import vocab
    from planner.spec import load

    assert set(vocab.MOE_ONLY_OPTIONS) == {"moe_dispatcher", "moe_a2a_overlap", "moe_fused_mlp"}
    assert vocab.MOE_ONLY_OPTIONS["moe_dispatcher"][0] in vocab.MOE_DISPATCHER
    assert load.MOE_ONLY_OPTIONS is vocab.MOE_ONLY_OPTIONS  # the loader's notes read the one table
    tree = ast.parse((ROOT / "planner" / "model" / "stacks.py").read_text())
    froms = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}
    assert "planner.spec.load" not in froms, froms
    assert "MOE_ONLY_OPTIONS = " not in (ROOT / "planner" / "spec" / "load.py").read_text()


# ---- 2. an open schedule on a stack that never interleaves: no vpp > 1 layouts to refuse -----------------------------
def test_maxtext_open_schedule_enumerates_no_virtual_stages(tmp_path, cli):
    """MaxText runs GPipe only (stack_rules.PIPELINE_SCHEDULES): vpp > 1 under an open schedule is interleaved, which it
    refuses. The search built those layouts and refused them (9,870 "a pipeline schedule other than GPipe" of 14,847
    refused for this job); the ranked plans are the same."""
    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 8192, "global_batch": 256, "precision": "bf16", "tokens": 1.0e11,
                        "framework": "maxtext"},
           "cluster": {"instance": "gcp:tpu-v6e-8"}}
    d = answered(cli("recommend", write_job(tmp_path, job), "--json", "--no-simulate", "--top", "1000"))
    assert d["ranked"] and all(r["config"]["vpp"] == 1 for r in d["ranked"])
    assert any(r["config"]["pp"] > 1 and r["config"]["schedule"] == "gpipe" for r in d["ranked"])
    refused = " ".join(a for a in d["assumptions"] if "layouts it refuses" in a)
    assert "a pipeline schedule other than GPipe" not in refused, refused


def test_interleaves_reads_the_pipeline_schedules_row():
    assert not stack_rules.interleaves("maxtext") and not stack_rules.interleaves("megatron-deepspeed")
    assert not stack_rules.interleaves("hf-trainer")  # no pipeline at all
    assert stack_rules.interleaves("megatron-core") and stack_rules.interleaves("torchtitan")
    assert stack_rules.interleaves(None)  # framework auto: each stack group's own rules


def test_a_named_vpp_on_maxtext_is_still_the_jobs_own(tmp_path, cli):
    """Only the open field is narrowed: a job that names vpp 2 is searched at vpp 2 and refused as before."""
    job = {"model": {"preset": "llama3-8b"},
           "training": {"seq_len": 8192, "global_batch": 256, "precision": "bf16", "tokens": 1.0e11,
                        "framework": "maxtext"},
           "parallel": {"pp": 2, "vpp": 2}, "cluster": {"instance": "gcp:tpu-v6e-8", "nodes": 4}}
    line = refused(cli("recommend", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith("error: parallel.schedule: ") and "other than GPipe" in line, line
