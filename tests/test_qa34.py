"""QA pass 34: what a demanding user of the CLI hit -- each defect with the check that failed before its fix."""
from __future__ import annotations

import pytest

from conftest import one_error_line, write_job

LLM = {"model": {"preset": "llama3-8b"},
       "training": {"seq_len": 2048, "global_batch": 64, "micro_batch": 1, "tokens": 1e9},
       "parallel": {"tp": 1, "pp": 1, "cp": 1, "dp": 8, "zero": 1},
       "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1}}


# ---- 1. a layout too big for the one node estimate assumes blamed the layout, not the default -------------------------
# TP8 PP4 with cluster.nodes left out: "error: parallel: tp*pp*cp = 32 does not divide the 8 GPUs" -- which 8 GPUs?
# A job that fits says "cluster.nodes defaulted to 1"; one that does not never said it
@pytest.mark.parametrize("command", ["estimate", "simulate"])
@pytest.mark.parametrize("parallel, words", [
    ({"tp": 8, "pp": 4}, "tp*pp*cp = 32 does not fit; set cluster.nodes, e.g. to 4 (32 GPUs)"),
    ({"tp": 8, "pp": 4, "dp": 4}, "tp*pp*cp*dp = 128 does not fit; set cluster.nodes, e.g. to 16 (128 GPUs)"),
    ({"tp": 1, "pp": 1, "dp": 12}, "no whole number of 8-GPU nodes holds tp*pp*cp*dp = 12 GPUs"),
])
def test_a_layout_past_the_default_node_blames_the_default(tmp_path, cli, command, parallel, words):
    job = {**LLM, "model": {"preset": "llama3-70b"}, "training": {**LLM["training"], "global_batch": 384},
           "parallel": parallel, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8}}
    code, out, err = cli(command, write_job(tmp_path, job))
    assert code == 2, out
    line = one_error_line(err)
    assert line.startswith("error: cluster.nodes: left out: estimate takes 1 node (8 GPUs), which "), line
    assert words in line, line


def test_a_layout_the_default_node_holds_is_still_estimated(tmp_path, cli):
    job = {**LLM, "parallel": {"tp": 2}, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8}}
    code, out, err = cli("estimate", write_job(tmp_path, job))
    assert code == 0, err
    assert "cluster.nodes defaulted to 1" in out


# ---- 2. the note of layouts a stack refuses cut its sources mid-parenthesis --------------------------------------------
# recommend with training.framework: auto said "... 14,913 pipeline parallelism (a transformers model is one nn.Module:
# no stage split) (accelerate ParallelismConfig (dp_replicate, dp_shard, tp, cp)" -- the source cut at the colon
# inside its own parenthesis
def test_the_refusal_note_cites_whole_parentheses(tmp_path, cli):
    from planner.model import stack_rules

    assert stack_rules.RULES  # every rule's citation head closes what it opens
    for r in stack_rules.RULES:
        assert r.cite.count("(") == r.cite.count(")"), (r.name, r.cite)
        assert r.source.startswith(r.cite)
    job = {**LLM, "training": {**LLM["training"], "framework": "auto"}, "parallel": {},
           "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8}, "constraints": {"max_gpus": 16}}
    code, out, err = cli("recommend", write_job(tmp_path, job), "--no-simulate", "--json")
    assert code == 0, err
    import json

    notes = [a for a in json.loads(out)["assumptions"] if "layouts it refuses are excluded" in a]
    hf = [a for a in notes if "one nn.Module" in a]
    assert hf, notes
    assert "(accelerate ParallelismConfig (dp_replicate, dp_shard, tp, cp: no pipeline axis))" in hf[0], hf[0]
    for a in notes:
        assert a.count("(") == a.count(")"), a
