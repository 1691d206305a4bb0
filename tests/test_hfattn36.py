"""hfattn36: transformers' ``attn_implementation`` as one option of the HF-code stacks (hf-trainer, deepspeed),
read by the memory (activations_hf ``hf_attn_impl``) and the time (stack_kernels ``fused_attention``) alike, refused where
the model's code does not run it, printed in the stack line and noted by ``--emit``."""
from __future__ import annotations

import json

from conftest import write_job

# DeepSeek-V2-Lite (MLA: q/k head dim 192, v 128) at 64K tokens, CP4 (Ulysses) on two H100 nodes (QA 49's case)
MLA_64K = """
model: {preset: deepseek-v2-lite}
training: {seq_len: 65536, global_batch: 16, micro_batch: 1, precision: bf16, recompute: none, tokens: 1.0e9,
           framework: FW}
parallel: {tp: 1, pp: 1, cp: 4, zero: 3}
cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 2}
"""
GIB = 2 ** 30


def _run(cli, tmp_path, fw: str, model: str = "deepseek-v2-lite", *args):
    job = write_job(tmp_path, MLA_64K.replace("FW", fw).replace("deepseek-v2-lite", model),
                    f"{abs(hash((fw, model)))}.yaml")
    return cli("estimate", job, *args)


def _est(cli, tmp_path, fw: str, model: str = "deepseek-v2-lite"):
    code, out, err = _run(cli, tmp_path, fw, model, "--json")
    assert code == 0, err
    return json.loads(out)


def test_mla_under_sdpa_saves_a_fused_kernels_tensors_on_cuda(cli, tmp_path):
    """CUDA sdpa sends MLA's 192 / 128 q / v head dims to the mem-efficient kernel (sdp_utils.cpp
    check_head_dim_size_mem_efficient needs only q = k and 8-aligned dims), which saves its output and an fp32
    log-sum-exp; the memory priced the CPU recording's math path (fp32 s x s scores: 1,940.9 GiB of activations a
    GPU) while the time priced a fused kernel. Now 99.9 GiB. flash_attention_2 pads v to the q/k head dim
    (modeling_deepseek_v2.py F.pad): its padded v and output saved (103.3 GiB) and P V over 192 dims (attention
    6.17 -> 7.41 s); flex_attention takes the dims as they are (sdpa's numbers)."""
    sdpa = _est(cli, tmp_path, "deepspeed")
    fa2 = _est(cli, tmp_path, "{name: deepspeed, attn_implementation: flash_attention_2}")
    flex = _est(cli, tmp_path, "{name: deepspeed, attn_implementation: flex_attention}")
    act = sdpa["memory_per_gpu_bytes"]["activations"]
    assert act < 200 * GIB, sdpa["memory_per_gpu_bytes"]
    assert act < fa2["memory_per_gpu_bytes"]["activations"] < 1.1 * act
    att = sdpa["breakdown_s"]["compute_attention"]
    assert abs(fa2["breakdown_s"]["compute_attention"] / att - 1.2) < 0.01  # 2 x 192 / (192 + 128)
    assert flex["step_time_s"] == sdpa["step_time_s"] and flex["memory_per_gpu_bytes"]["activations"] == act


def test_eager_prices_the_score_path_in_memory_and_time(cli, tmp_path):
    """attn_implementation eager: transformers' eager_attention_forward keeps the s x s softmax (memory) and runs
    the two batched GEMMs plus the scores through HBM (time), where sdpa's fused kernel keeps (out, lse)."""
    fused = _est(cli, tmp_path, "{name: hf-trainer, attn_implementation: sdpa}", "llama3-8b")
    eager = _est(cli, tmp_path, "{name: hf-trainer, attn_implementation: eager}", "llama3-8b")
    assert eager["memory_per_gpu_bytes"]["activations"] > 2 * fused["memory_per_gpu_bytes"]["activations"]
    assert eager["breakdown_s"]["compute_attention"] > 1.5 * fused["breakdown_s"]["compute_attention"]
    # the default is the one transformers picks (sdpa): the plan is sdpa's
    default = _est(cli, tmp_path, "hf-trainer", "llama3-8b")
    assert default["step_time_s"] == fused["step_time_s"]
    assert default["memory_per_gpu_bytes"]["total"] == fused["memory_per_gpu_bytes"]["total"]


def test_refusals_one_line(cli, tmp_path):
    """gpt-oss (attention sinks) loads only eagerly on the HF code (_supports_sdpa = False; flash_attention_2 drops
    the sinks); a stack without transformers' model code has no such switch; a value outside transformers' list."""
    for fw, model, head in (
            ("{name: deepspeed, attn_implementation: sdpa}", "gpt-oss-20b",
             "error: training.framework.attn_implementation: "),
            ("{name: megatron-core, attn_implementation: sdpa}", "llama3-8b",
             "error: training.framework.attn_implementation: megatron-core has no"),
            ("{name: hf-trainer, attn_implementation: flash_attention_9}", "llama3-8b",
             "error: training.framework.attn_implementation: must be one of eager, sdpa, ")):  # the schema's words
        code, out, err = _run(cli, tmp_path, fw, model)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(head), (fw, out, err)
    # eager on gpt-oss is what the HF code runs: accepted
    assert _run(cli, tmp_path, "{name: deepspeed, attn_implementation: eager}", "gpt-oss-20b")[0] == 0


def test_stack_line_and_emit_say_it(cli, tmp_path):
    code, out, err = _run(cli, tmp_path, "{name: deepspeed, attn_implementation: flash_attention_2}")
    assert code == 0, err
    assert "attn_implementation=flash_attention_2" in " ".join(out.split()), out
    job = write_job(tmp_path, """
model: {preset: llama3-8b}
training: {seq_len: 4096, global_batch: 64, micro_batch: 1, precision: bf16, tokens: 1.0e9,
           framework: {name: deepspeed, attn_implementation: flash_attention_2}}
cluster: {gpu: H100-SXM-80GB, gpus_per_node: 8, nodes: 1}
""", "emit.yaml")
    code, out, err = cli("recommend", job, "--no-simulate", "--emit", "torchrun")
    assert code == 0, err
    assert "attn_implementation='flash_attention_2'" in out, out


def test_cpu_keeps_the_math_path_cuda_does_not():
    """The CPU recordings (tests/data/hf_activations.json) ran MLA's sdpa on the math path (no CPU mem-efficient
    kernel); the planner's CUDA key is the fused one, whose saves are far below it."""
    from planner.model.activations_hf import hf_attn_impl, hf_saved_bytes
    from planner.spec import load_job_dict

    m = load_job_dict({"model": {"preset": "deepseek-v2-lite"}, "training": {"seq_len": 4096, "global_batch": 8},
                       "cluster": {"gpu": "H100-SXM-80GB", "nodes": 1}}).model
    assert hf_attn_impl(m, True, device="cpu") == "sdpa"
    assert hf_attn_impl(m, True) == "fused"
    assert hf_attn_impl(m, True, "eager") == "eager"
    cpu = hf_saved_bytes(m, "deepseek_v2", 4096, 1, "bf16", "sdpa")
    gpu = hf_saved_bytes(m, "deepseek_v2", 4096, 1, "bf16", "fused")
    assert gpu < 0.5 * cpu
    assert hf_attn_impl(m, True, "flash_attention_2") == "fused_pad"
    pad = hf_saved_bytes(m, "deepseek_v2", 4096, 1, "bf16", "fused_pad")
    # v and the output at 192 instead of 128 per head, plus o_proj's contiguous 128-wide copy: 2 x 64 + 128 a head
    assert pad - gpu == 16 * 2 * (2 * 64 + 128) * 4096 * 27
