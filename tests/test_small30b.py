"""Leftovers of small30/moe30 (small30b, 2026-12-04): each check failed on the code before."""
from __future__ import annotations


from conftest import answered, refused, write_job

#: a top-1 MoE (Qwen3-30B-A3B's shape routed to one expert, no shared experts: what Megatron-LM 2021-22's SwitchMLP
#: runs) on megatron-lm, one p5 node, no pipeline parallelism: 30B parameters only fit with TP > 1
SWITCH_JOB = {"model": {"preset": "qwen3-30b-a3b", "moe": {"top_k": 1}},
              "training": {"tokens": 1e10, "framework": "megatron-lm"}, "parallel": {"pp": 1},
              "constraints": {"instances": ["aws:p5.48xlarge"], "max_gpus": 8}}


# ---- 1. megatron-lm + MoE: sequence parallelism left open is searched off where megatron-lm-moe-sp refuses it on ----
def test_open_sequence_parallelism_is_searched_off_on_megatron_lm_moe(tmp_path, cli):
    """Sequence parallelism defaulted on with TP > 1 and megatron-lm refuses it with an MoE model (rule
    megatron-lm-moe-sp), so every TP > 1 layout was refused: this job, which fits only with TP > 1, had no plan
    ("refuses every layout left"). Now the open field is searched off there, said in the assumptions."""
    got = answered(cli("recommend", write_job(tmp_path, SWITCH_JOB), "--no-simulate", "--json", "--top", "1"))
    cfg = got["best"]["config"]
    assert cfg["tp"] > 1 and cfg["sp"] is False, cfg
    line = next(a for a in got["assumptions"] if a.startswith("parallel.sequence_parallel open"))
    assert "megatron-lm-moe-sp" in line and "searched with it off" in line, line
    # the rule counts no layout among those it refuses: they were searched
    assert not any("megatron-lm-moe-sp" in a or "sequence parallelism with an MoE" in a
                   for a in got["assumptions"] if "layouts it refuses" in a)


def test_sequence_parallelism_set_on_is_still_refused(tmp_path, cli):
    """A job that sets sequence_parallel: true keeps the refusal, in estimate and recommend; left open, estimate
    runs TP 8 without it and says so."""
    est = {"model": SWITCH_JOB["model"], "training": {**SWITCH_JOB["training"], "recompute": "full"},
           "parallel": {"tp": 8, "pp": 1, "sequence_parallel": True},
           "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}
    line = refused(cli("estimate", write_job(tmp_path, est)))
    assert line.startswith("error: parallel.sequence_parallel:") and "SwitchMLP" in line, line
    job = {**SWITCH_JOB, "parallel": {"pp": 1, "tp": 8, "sequence_parallel": True}}
    line = refused(cli("recommend", write_job(tmp_path, job), "--no-simulate"))
    assert line.startswith("error: parallel.sequence_parallel:"), line
    est["parallel"].pop("sequence_parallel")
    got = answered(cli("estimate", write_job(tmp_path, est), "--json"))
    assert got["config"]["sp"] is False
    assert any(a.startswith("parallel.sequence_parallel defaulted to false at TP 8") for a in got["assumptions"])


# ---- 2. the budget-review report's tables show HFU beside MFU, as the app's and the CLI's do -------------------------
def test_report_tables_show_hfu_beside_mfu(tmp_path, cli):
    """``planner report``'s alternatives, sensitivity and scaling tables had an MFU column and no HFU (the app's
    tables show both since small30: ``explain.utilisation_columns``). Llama-3-8B at full recompute on up to 32 H100s
    (best: MFU 54%, HFU 52%: the recomputed forward adds to HFU, the causal kernel's skipped half, which MFU counts
    in full, takes more away): every table with MFU has HFU right after it, and the alternatives' cells are the
    ranked plans' own shares."""
    import html
    import re

    from planner.units import fmt_pct

    job = {"model": {"preset": "llama3-8b"}, "training": {"tokens": 1e10, "recompute": "full"},
           "constraints": {"instances": ["aws:p5.48xlarge"], "max_gpus": 32}}
    path = write_job(tmp_path, job)
    ranked = answered(cli("recommend", path, "--no-simulate", "--json"))["ranked"]
    page = tmp_path / "review.html"
    code, out, err = cli("report", path, "--no-simulate", "-o", str(page))
    assert code == 0, err
    tables = [[[html.unescape(c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", tr)]
               for tr in re.findall(r"<tr>(.*?)</tr>", t, re.S)]
              for t in re.findall(r"<table>(.*?)</table>", page.read_text(encoding="utf-8"), re.S)]
    with_mfu = [t for t in tables if "MFU" in t[0]]
    assert len(with_mfu) >= 3, [t[0] for t in tables]  # alternatives, sensitivity sweeps, scaling
    for t in with_mfu:
        i = t[0].index("MFU")
        assert t[0][i + 1] == "HFU", t[0]
    alt = next(t for t in with_mfu if "mem/limit GiB" in t[0])
    i = alt[0].index("HFU")
    assert [r[i] for r in alt[1:]] == [fmt_pct(r["hfu"]) for r in ranked]
    assert any(r[i] != r[i - 1] for r in alt[1:])  # not MFU again (here 52% HFU beside 54% MFU: see the docstring)


# ---- 3. MTP: the last pipeline stage keeps a copy of the word embedding ----------------------------------------------
def test_mtp_last_stage_holds_a_copy_of_the_word_embedding():
    """Megatron-Core builds the embedding on the stage holding the MTP modules (gpt_model.py ``if self.pre_process or
    self.mtp_process``) and keeps it a copy of the first stage's (language_module.py
    ``setup_embeddings_and_output_layer``). A 4-layer model (h 1024, V 32000, untied, one MTP module) at PP 2, by hand:
    the last stage holds 2 layers, the final norm, the untied head, the MTP module and the V x h copy; before, no copy
    (32.8M parameters short). Tied, the copy is the head the stage already holds (no second one); on one stage the
    first stage's own."""
    import numpy as np

    from planner.model.memory_stages import stage_split
    from planner.spec import ModelSpec
    from planner.spec.params import count_params
    from planner.spec.presets import _llama
    from test_step_time import cands

    V, h = 32000, 1024
    m = ModelSpec(**_llama(4, h, 8, 8, 4096, V, mtp_layers=1))
    pc = count_params(m)
    s = stage_split(m, cands(pp=2, dp=1))
    want = 2 * pc.dense_layer + h + V * h + pc.mtp + V * h  # layers, final norm, head, MTP, the copy
    assert float(s.last_dense[0]) == want
    assert float(s.first_dense[0]) == 2 * pc.dense_layer + V * h  # the embedding on the first
    tied = ModelSpec(**_llama(4, h, 8, 8, 4096, V, tied=True, mtp_layers=1))
    pt = count_params(tied)
    assert float(stage_split(tied, cands(pp=2, dp=1)).last_dense[0]) == 2 * pt.dense_layer + h + pt.mtp + V * h
    one = stage_split(m, cands(pp=1, dp=1))
    assert float(one.last_dense[0]) == pc.total  # one stage: every parameter once
