"""Leftovers of small31 (2026-12-04): each check failed on the code before."""
from __future__ import annotations


import pytest

from conftest import answered, write_job

from planner.spec import TrainingSpec

#: Llama-3-8B on torchtitan (FSDP2), 8 p4d nodes, micro-batch 1
TITAN = {"model": {"preset": "llama3-8b"},
         "training": {"tokens": 1e9, "framework": "torchtitan", "seq_len": 2048, "global_batch": 64, "micro_batch": 1},
         "parallel": {"tp": 1, "pp": 1}, "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 8}}


def _estimate(tmp_path, cli, weights, zero):
    job = {**TITAN, "training": {**TITAN["training"], "weights": weights},
           "parallel": {**TITAN["parallel"], "zero": zero}}
    return answered(cli("estimate", write_job(tmp_path, job), "--json"))


# ---- 1. FSDP2's ZeRO-2 under AMP: bf16 parameters from the all-gather, no autocast casts or copies --------------------
def test_fsdp2_zero2_amp_has_no_autocast_casts_or_copies(tmp_path, cli):
    """torchtitan's ZeRO-2 is ``fully_shard`` without reshard after forward: the all-gather hands the forward bf16
    parameters (torch ``FSDPParam.all_gather_inputs`` casts the fp32 shard to ``param_dtype``), so ``weights: amp``
    prices as FSDP2 with a bf16 policy -- the same step and bytes as ``weights: megatron`` (bf16 gathered, fp32
    shard). Before: 68 ms of casts a step in ``compute_memory_bound`` and 44.9 GiB of weights (fp32 whole + the
    copy) where now 15.4. DDP (ZeRO-0) under AMP still casts."""
    amp, meg = _estimate(tmp_path, cli, "amp", 2), _estimate(tmp_path, cli, "megatron", 2)
    assert abs(amp["breakdown_s"]["compute_memory_bound"] - meg["breakdown_s"]["compute_memory_bound"]) < 1e-9
    assert abs(amp["step_time_s"] - meg["step_time_s"]) < 1e-9
    ma, mm = amp["memory_per_gpu_bytes"], meg["memory_per_gpu_bytes"]
    assert abs((ma["weights"] + ma["optimizer"]) - (mm["weights"] + mm["optimizer"])) < 1e-3 * mm["weights"]
    # the weights: 2 B a parameter whole (the unsharded bf16) + 4 B over dp 64 (the fp32 shard)
    assert abs(ma["weights"] / amp["params"] - (2 + 4 / 64)) < 0.01, ma["weights"] / amp["params"]
    # ZeRO-0 (DDP under torch.autocast): the casts stay
    amp0, meg0 = _estimate(tmp_path, cli, "amp", 0), _estimate(tmp_path, cli, "megatron", 0)
    assert amp0["breakdown_s"]["compute_memory_bound"] > meg0["breakdown_s"]["compute_memory_bound"] + 0.05


# ---- 2. a job's rope_scaling of another type replaces a preset's whole: no YaRN settings under a llama3 band ----------
def _launch(model):
    from planner.present.emit import emit_launch_spec
    from planner.spec import load_job_dict
    from planner.workloads.training import estimate_job

    job = load_job_dict({"model": model, "training": {"seq_len": 4096, "global_batch": 64, "micro_batch": 1,
                                                      "tokens": 1e9},
                         "parallel": {"tp": 1, "pp": 1, "zero": 1},
                         "cluster": {"instance": "aws:p5.48xlarge", "nodes": 1}})
    return job, emit_launch_spec(job, estimate_job(job), "torchrun:megatron")


def test_a_llama3_band_over_a_yarn_preset_drops_the_yarn_fields():
    """gpt-oss-20b (YaRN factor 32 over 4096, betas 32 / 1) with ``rope_scaling: {type: llama3, factor: 8}``: the
    merge kept the YaRN's original_max_positions 4096 and betas, so the band was not Llama 3.1's (8192) and the launch
    said the generic "is Llama 3.1's llama3 band only" note; now the section is the job's own and Megatron-LM's
    ``--use-rope-scaling`` carries it. On an MLA preset (DeepSeek-V2-Lite) the note is the multi-latent one. A YaRN
    override over a YaRN preset still merges field by field."""
    job, s = _launch({"preset": "gpt-oss-20b", "rope_scaling": {"type": "llama3", "factor": 8}})
    sc = job.model.rope_scaling
    assert sc.type == "llama3" and sc.original_max_positions is None and sc.beta_fast is None and sc.mscale is None
    assert "  --use-rope-scaling \\" in s and "--rope-scaling-factor 8.0 " in s and "llama3 band only" not in s
    job, s = _launch({"preset": "deepseek-v2-lite", "rope_scaling": {"type": "llama3", "factor": 8}})
    assert "Megatron-Core's plain-RoPE path for multi-latent attention" in s and "llama3 band only" not in s
    job, _ = _launch({"preset": "deepseek-v2-lite", "rope_scaling": {"type": "yarn", "factor": 16}})
    sc = job.model.rope_scaling
    assert (sc.factor, sc.original_max_positions, sc.beta_fast, sc.mscale_all_dim) == (16.0, 4096, 32.0, 0.707)


# ---- 3. SwitchMLP's own saves: its index tensors, bf16 probabilities, full-width expert rows and bias outputs --------
def test_switch_mlp_keeps_what_its_autograd_saves():
    """megatron-lm's MoE layer (Megatron-LM 2021-22 SwitchMLP) keeps, per token, beyond its experts' MLP rows: the
    16-bit router softmax (E), torch.max's int64 argmax and each expert's int64 ``local_indices`` (2 x 8 B over the
    experts), ``max_prob`` (1), and three full-width rows on every TP rank: the gathered expert inputs, the outputs
    and the expanded fc2 biases (``output_bias_total * max_prob`` keeps it). Before, Megatron-Core's rows: fp32 probs,
    3 int64 and 3 fp32 routing weights, two rows split over TP, no bias row. By hand against the table's difference
    with the switch rows off, and carried into memory_per_gpu for the megatron-lm stack only."""
    import dataclasses

    from planner.model.activations import layer_activation_bytes, stack_table_kw
    from planner.model.memory import memory_per_gpu
    from planner.model.stacks import resolve
    from test_moe30 import SWITCH
    from test_step_time import cands

    seq, mb, tp, E, h = 2048.0, 4.0, 2.0, 8, SWITCH.hidden
    st = resolve("megatron-lm")
    kw = stack_table_kw(st, "bf16")
    assert kw["switch_mlp"] is True and stack_table_kw(resolve("megatron-core"), "bf16")["switch_mlp"] is False
    one = {s: float(layer_activation_bytes(SWITCH, seq, mb, tp=tp, moe=True, act_bytes=2,
                                           **{**kw, "switch_mlp": s})) for s in (True, False)}
    switch_tok = E * 2 + 2 * 8 + 1 * 2 + 3 * h * 2
    core_tok = E * 4 + 3 * 8 + 3 * 4 + 2 * h * 2 / tp
    assert one[True] - one[False] == pytest.approx(seq * mb * (switch_tok - core_tok), rel=1e-12)

    t = TrainingSpec(seq_len=int(seq), global_batch=64, micro_batch=int(mb), precision="bf16", recompute="none")
    c = cands(tp=int(tp), pp=1, dp=4, mb=int(mb), zero=1, nodes=1, sp=False)
    act = {s: float(memory_per_gpu(SWITCH, t, c, stack=dataclasses.replace(st, moe_switch_mlp=s))["activations"][0])
           for s in (True, False)}
    assert act[True] - act[False] == pytest.approx(SWITCH.layers * (one[True] - one[False]), rel=1e-6)


# ---- 4. Muon: the optimizer step is paced by the stage with the most Newton-Schulz work, a middle one too ------------
def test_muon_step_paced_by_a_middle_stage_with_more_newton_schulz(catalog):
    """DeepSeek-V3 on Megatron-Core, TP1 PP16 EP64 DP64, ZeRO-0, H100: Megatron's split puts 2 dense layers and the
    embedding on stage 0 (the heaviest before the last by parameters: "first"), 1 dense + 3 MoE layers on stage 1,
    4 MoE layers on each middle stage and 3 + the MTP module on the last. Stage 1 holds the most Newton-Schulz work
    (the dense MLP's 36864 x 7168 fc1 beside three MLA blocks and twelve local experts), so it paces the step; by
    hand from the formula (``optimizers.ns_time`` per matrix, floored by its launches; the elementwise pass over the
    stage's Muon matrices and its AdamW rest). Before, only the first and last stage were priced: 0.381 s where
    stage 1 takes 0.406 s."""
    import numpy as np

    from planner.model import optimizers, physics
    from planner.model.memory_stages import layer_params, stage_split
    from planner.model.pipeline import pipeline_split
    from planner.model.stacks import resolve
    from planner.model.step_time import OPTIMIZER_BYTES_PER_PARAM, step_time
    from planner.spec import ModelSpec
    from planner.spec.presets import PRESETS
    from test_step_time import cands, hw_for

    m, hw = ModelSpec(**PRESETS["deepseek-v3"]), hw_for(catalog)
    ep = 64
    assert pipeline_split(m.layers, 16)[1][:3] == (2, 4, 4) and m.moe.first_dense == 3
    t = TrainingSpec(seq_len=4096, global_batch=1024, micro_batch=1, precision="bf16", optimizer="muon")
    c = cands(tp=1, pp=16, dp=64, ep=ep, mb=1, zero=0, nodes=128)
    # Megatron's own split, pinned (the balanced one, pplayout35, is 3, 4 x 14, 2)
    got = float(step_time(m, t, c, hw, framework=resolve("megatron-core", pp_split="megatron"))["optimizer"][0])

    eff = hw.eff
    peak, launch = physics.reachable_peak(hw, "bf16"), eff.launch_s
    floor = (3 * optimizers.NS_STEPS + optimizers.MUON_OPS_PER_MATRIX) * launch

    def ns(shapes):
        return sum(max(float(optimizers.ns_time(eff, r, k, peak, hw.gpu.hbm_bw)), floor) for r, k in shapes)

    mla = [(1536, 7168), (24576, 1536), (576, 7168), (32768, 512), (7168, 16384)]
    dense_mlp = [(36864, 7168), (7168, 18432)]
    moe_own = [(256, 7168), (4096, 7168), (7168, 2048)]  # router, shared expert fc1 (gate + up), fc2
    expert = [(4096, 7168), (7168, 2048)]
    local_experts = 3 * m.moe.experts // ep  # three MoE layers, 4 experts of each on the rank
    t_ns = ns(mla) * 4 + ns(dense_mlp) + ns(moe_own) * 3 + ns(expert) * local_experts
    # elementwise: Muon's bytes on its matrices, AdamW's on the stage's other parameters (norms)
    dense_of, exp_of = layer_params(m)
    stage_dense = float(dense_of[2:6].sum())
    muon_dense = sum(r * k for r, k in mla) * 4 + sum(r * k for r, k in dense_mlp) + sum(r * k for r, k in moe_own) * 3
    muon_exp = sum(r * k for r, k in expert) * local_experts
    assert float(exp_of[2:6].sum()) / ep == muon_exp
    ew = float(eff.memory_time(np.array([(muon_dense + muon_exp) * optimizers.MUON_ELEMENTWISE_BYTES
                                         + (stage_dense - muon_dense) * OPTIMIZER_BYTES_PER_PARAM["adamw"]]),
                               hbm_bw=hw.gpu.hbm_bw)[0])
    want = ew + t_ns + 8 * launch
    assert got == pytest.approx(want, rel=1e-9), (got, want)
    # the ends alone (what was priced before) take less
    sp = stage_split(m, c, blocks=True)
    one = np.array([1.0])
    ends = max(float(optimizers.step_terms(m, optimizers.IMPLEMENTATIONS["megatron"], hw, b, one, one, np.array([64.0]),
                                           np.array([64.0]), one, np.array([0]), d, e / ep,
                                           OPTIMIZER_BYTES_PER_PARAM["adamw"])[0])
               for d, e, b in ((sp.first_dense, sp.first_expert, sp.first_blocks),
                               (sp.last_dense, sp.last_expert, sp.last_blocks)))
    assert got > ends * 1.05, (got, ends)
