"""Leftovers of small31 (2026-12-04): each check failed on the code before."""
from __future__ import annotations

import json

from conftest import write_job

#: Llama-3-8B on torchtitan (FSDP2), 8 p4d nodes, micro-batch 1
TITAN = {"model": {"preset": "llama3-8b"},
         "training": {"tokens": 1e9, "framework": "torchtitan", "seq_len": 2048, "global_batch": 64, "micro_batch": 1},
         "parallel": {"tp": 1, "pp": 1}, "cluster": {"instance": "aws:p4d.24xlarge", "nodes": 8}}


def _estimate(tmp_path, cli, weights, zero):
    job = {**TITAN, "training": {**TITAN["training"], "weights": weights},
           "parallel": {**TITAN["parallel"], "zero": zero}}
    code, out, err = cli("estimate", write_job(tmp_path, job), "--json")
    assert code == 0, err
    return json.loads(out)


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
