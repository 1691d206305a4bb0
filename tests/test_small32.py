"""small32 leftovers. Each check fails on the code before."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from conftest import answered, refused, write_job
from planner.model import stack_rules

ROOT = Path(__file__).resolve().parents[1]


# ---- 1. MOE_ONLY_OPTIONS is vocabulary: planner.vocab, not the job loader -------------------------------------------
def test_moe_only_options_live_in_the_vocabulary():
    """The stack registry (planner.model.stacks) imported the table from the job loader (planner.spec.load): a model
    module reaching into the loader for a vocabulary table. It is vocabulary, in the foundations layer both import."""
    from planner import vocab
    from planner.spec import load

    assert set(vocab.MOE_ONLY_OPTIONS) == {"moe_dispatcher", "moe_a2a_overlap", "moe_fused_mlp",
                                           "experts_implementation"}
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


# ---- 3. Muon: the stage before the last whose states are largest, its own optimizer bytes ---------------------------
def test_muon_charges_the_stage_whose_states_are_largest(tmp_path):
    """DeepSeek-V3 (no MTP) on PP16 at TP1 EP32 under Muon: stages 1-14 hold 2.34B parameters a GPU, all Muon
    matrices (18.7 GB of master + momentum), stage 0 2.09B with the embedding under AdamW (20.5 GB). The heaviest by
    parameters was priced and stage 0's larger state went uncharged; AdamW keeps the heaviest by parameters."""
    from planner.layout import Candidates
    from planner.model import memory
    from planner.model.stacks import from_training
    from planner.spec.load import load_job

    def first_stage(optimizer):
        job = {"model": {"preset": "deepseek-v3", "mtp_layers": 0},
               "training": {"seq_len": 4096, "global_batch": 4096, "micro_batch": 1, "optimizer": optimizer,
                            "recompute": "full", "tokens": 1e12,
                            # Megatron's own 2, 4 x 14, 3 (the balanced split, pplayout35, puts a third dense layer
                            # on stage 0, which then is the heaviest by parameters too)
                            "framework": {"name": "megatron-core", "pp_split": "megatron"}},
               "parallel": {"tp": 1, "pp": 16, "ep": 32, "zero": 0}, "cluster": {"instance": "aws:p5.48xlarge",
                                                                                   "nodes": 64}}
        spec = load_job(write_job(tmp_path, job, f"{optimizer}.yaml"))
        m, st = spec.model, from_training(spec.training)
        t = memory.held_training(m, spec.training, st)
        c = Candidates.layouts(*(np.array([v]) for v in (1, 16, 32, 1, 32, 0)), etp=np.array([1]))
        c.vpp = np.array([1])
        x = memory.state_context(m, t, st, c, "H100", memory.state_bytes(m, t))
        return x, memory.model_states(memory.muon_heaviest_stage(x))

    x, s = first_stage("muon")
    per_stage = [memory.state_weights(x, d, e, ends=x.ends_f, head=x.head_f, p16=x.lp16_f)
                 + memory.state_grads(x, d, e) + memory.state_optimizer(x, d, e, b) for d, e, b in x.before_last]
    assert (s.fw + s.fg + s.fo)[0] >= max(v[0] for v in per_stage) - 1.0
    stage0_opt = memory.state_optimizer(x, *x.before_last[0])[0]
    assert s.fo[0] == pytest.approx(stage0_opt) and stage0_opt > 1.05 * memory.model_states(x).fo[0]
    assert 20.0e9 < s.fo[0] < 21.0e9
    xa, sa = first_stage("adamw")  # every parameter the same bytes: the heaviest by parameters, as before
    assert sa.fo[0] == memory.model_states(xa).fo[0]


# ---- 4. weights: amp on the 2021-22 Megatron-LM: a mode its code has no path for --------------------------------------
def test_megatron_lm_refuses_weights_amp_and_megatron_core_keeps_it(tmp_path, cli):
    """Megatron-LM 2021-22 casts the model under --bf16 (Float16Module) and its schedule runs no torch.autocast, so
    fp32 weights under autocast (``weights: amp``) is no run it launches: it was priced with the casts (Llama-2-7B
    TP2 on 2 p4d: 15.75 s a step, 0.96 s of them). Megatron-Core has the path (ModelParallelConfig enable_autocast)."""
    def job(framework, weights):
        return {"model": {"preset": "llama2-7b"},
                "training": {"seq_len": 4096, "global_batch": 256, "micro_batch": 1, "precision": "bf16",
                             "weights": weights, "recompute": "none", "tokens": 1e10, "framework": framework},
                "parallel": {"tp": 2, "pp": 1}, "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 2}}
    line = refused(cli("estimate", write_job(tmp_path, job("megatron-lm", "amp"), "a.yaml")))
    assert line.startswith("error: training.weights: Megatron-LM (2021-22) refuses fp32 weights under torch "
                           "autocast"), line
    answered(cli("estimate", write_job(tmp_path, job("megatron-lm", "megatron"), "b.yaml"), "--json"))
    amp = answered(cli("estimate", write_job(tmp_path, job("megatron-core", "amp"), "c.yaml"), "--json"))
    meg = answered(cli("estimate", write_job(tmp_path, job("megatron-core", "megatron"), "d.yaml"), "--json"))
    assert amp["breakdown_s"]["compute_memory_bound"] > meg["breakdown_s"]["compute_memory_bound"]  # the casts
