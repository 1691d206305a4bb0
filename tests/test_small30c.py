"""Leftovers of small30b (small30c, 2026-12-04): each check failed on the code before."""
from __future__ import annotations


from conftest import answered, write_job

from planner.model import stack_rules
from planner.present.emit import plan_stack
from planner.spec import load_job_dict

#: a top-1 MoE on megatron-lm (Megatron-LM 2021-22's SwitchMLP), TP 8 on one p5 node (as tests/test_small30b.py)
SWITCH_EST = {"model": {"preset": "qwen3-30b-a3b", "moe": {"top_k": 1}},
              "training": {"tokens": 1e10, "framework": "megatron-lm", "recompute": "full"},
              "parallel": {"tp": 8, "pp": 1}, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}}


# ---- 3. stack_rules.layout_of carries the plan's sp: a rule reading sp sees it ---------------------------------------
def test_layout_of_a_plan_with_sp_on_is_refused_by_the_moe_sp_rule(tmp_path, cli):
    """``layout_of`` built the rules' columns without ``sp``, so ``megatron-lm-moe-sp`` (which reads ``c.sp``) raised
    AttributeError on a plan's columns. The estimated plan (sp searched off) passes the rules; the same plan with sp on
    is refused by that rule, whose message names SwitchMLP."""
    cfg = answered(cli("estimate", write_job(tmp_path, SWITCH_EST), "--json"))["config"]
    assert cfg["tp"] == 8 and cfg["sp"] is False
    job = load_job_dict(SWITCH_EST)
    st = plan_stack(job, cfg)
    assert stack_rules.first_refusal(st, job.model, job.training, stack_rules.layout_of(cfg)) is None
    hit = stack_rules.first_refusal(st, job.model, job.training, stack_rules.layout_of({**cfg, "sp": True}))
    assert hit is not None and hit[0].name == "megatron-lm-moe-sp" and "SwitchMLP" in hit[1], hit


# ---- 2. an MLA model with llama3 RoPE scaling: Megatron's plain-RoPE MLA path ignores --use-rope-scaling -------------
def test_mla_llama3_scaling_is_said_not_carried_on_the_megatron_launch():
    """DeepSeek-V2-Lite with Llama 3.1's llama3 band instead of its YaRN: the launch wrote --use-rope-scaling
    --rope-scaling-factor 8.0 beside --rope-type rope, which Megatron-Core's MLA RotaryEmbedding never reads (GPTModel
    passes rope_scaling only to a non-MLA model's); now no such flag, and a ``# note:`` says it trains unscaled.
    The same scaling on a standard-attention model keeps its flags."""
    from planner.present.emit import emit_launch_spec
    from planner.workloads.training import estimate_job

    def launch(model):
        job = load_job_dict({"model": model, "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1,
                                                          "tokens": 1e9},
                             "parallel": {"tp": 1, "pp": 1, "zero": 1},
                             "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
        return emit_launch_spec(job, estimate_job(job), "torchrun:megatron")

    band = {"type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_positions": 8192}
    s = launch({"preset": "deepseek-v2-lite", "rope_scaling": band})
    assert "  --rope-type rope " in s and "  --use-rope-scaling" not in s and "--rope-scaling-factor" not in s
    assert "# note: the model's RoPE llama3 scaling, factor 8" in s
    assert "is not carried: Megatron-Core's plain-RoPE path for multi-latent attention (--rope-type rope) ignores " \
           "--use-rope-scaling" in s
    s = launch({"preset": "llama3-8b", "rope_scaling": band})
    assert "  --use-rope-scaling \\" in s and "--rope-scaling-factor 8.0 " in s and "multi-latent" not in s


# ---- 1. ZeRO-3's gathers hide under the AMP casts and the accumulation pass too (zero_exposure) ----------------------
#: torchtitan (FSDP2: ZeRO-2 is fully_shard without reshard, timed as ZeRO-3) with AMP weights, Llama-3-8B on 8 p4d
#: nodes: the per-micro-batch gathers outlast the micro-batch's compute, whose forward and backward carry AMP's casts
GATHER_BOUND = {"model": {"preset": "llama3-8b"},
                "training": {"tokens": 1e9, "framework": "torchtitan", "weights": "amp", "seq_len": 2048,
                             "global_batch": 64, "micro_batch": 1},
                "parallel": {"tp": 1, "pp": 1, "zero": 2}, "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 8}}


def test_fsdp_gathers_hide_under_the_amp_casts(tmp_path, cli, monkeypatch):
    """The casts are memory-bound kernels of the same forward and backward the prefetched gathers overlap, so on a
    gather-bound row they add little to the step: ``zero_exposure`` read the stage time from before
    ``microbatch_extras``, so the casts were charged in full on top of the gathers (1.295 s a step, comm_zero3
    0.769 s; now 1.227 s and 0.701 s). Priced against the same job with the casts taken out: the step grows by
    under a third of the casts' own time (before: all of it). Since small31 an FSDP2 stack's ZeRO-2 makes no casts
    (``Stack.autocast_finds_fp32``: FSDP2 gathers bf16 parameters) and no stack has gathers and casts on one row, so
    the casts are put back on this row to keep the ordering checked."""
    import numpy as np

    import planner.model.step_time as step_time
    from planner.model.stacks import Stack

    monkeypatch.setattr(Stack, "autocast_finds_fp32", lambda self, zero: np.ones(np.shape(zero), dtype=bool))

    def run():
        got = answered(cli("estimate", write_job(tmp_path, GATHER_BOUND), "--json"))
        return got["step_time_s"], got["breakdown_s"]

    step, bd = run()
    assert bd["comm_zero3"] > bd["compute"]  # gather-bound
    real = step_time.autocast_cast_bytes
    monkeypatch.setattr(step_time, "autocast_cast_bytes", lambda m, rc: tuple(0.0 * x for x in real(m, rc)))
    step0, bd0 = run()
    casts = bd["compute_memory_bound"] - bd0["compute_memory_bound"]
    assert casts > 0.05, (bd, bd0)
    assert 0.0 <= step - step0 < casts / 3, (step, step0, casts)
