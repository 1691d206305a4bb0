"""QA pass 24: ``planner serve`` for models other than plain dense GQA (MoE, MLA, sliding-window / chunked local
attention, long context), the KV-cache and weight arithmetic checked by hand against vLLM's own sizing — each
defect with the check that failed before its fix."""
from __future__ import annotations

import pytest

from planner.spec import load_job_dict
from planner.workloads.serving import plan_serving

GiB = 2**30


def _serve(model: str, gpus=("H200-SXM-141GB",), **serving):
    base = dict(p99_latency_ms=200, ttft_ms=20000, qps=1, prompt_tokens=4096, output_tokens=256,
                precision="fp8", kv_precision="fp8")
    return load_job_dict({"model": {"preset": model}, "serving": {**base, **serving},
                          "constraints": {"gpus": list(gpus), "clouds": ["aws"]}})


# ---- defect 1: DeepSeek-V3's MTP module served as part of the model ------------------------------------------------
# vLLM's DeepseekV2ForCausalLM.load_weights skips every tensor of the MTP layer ("skip spec decode layers for main
# model"): it is loaded only as a speculative-decoding draft. serve counted its 11.6B parameters in the weights (HBM),
# in the bytes every decode step reads and in the FLOPs every token does: 682.6B params, 637.6 GiB in fp8 (79.7 GiB
# per GPU at TP8) -> 671.0B, 626.8 GiB (78.3).
def test_deepseek_v3_served_without_mtp():
    res = plan_serving(_serve("deepseek-v3"), simulate=False)
    assert res["params"] == pytest.approx(671.0e9, rel=2e-3)
    assert res["weights_gib"] == pytest.approx(626.8, rel=2e-3)


# ---- defect 2: MLA decode priced at the prefill's attention width ---------------------------------------------------
# vLLM's MLA backends (vllm/v1/attention/backends/mla/common.py) prefill "compute friendly" (MHA over up-projected K/V:
# QK over 192 dims, PV over 128 for V3) but decode "data-movement friendly": W_UK / W_UV absorbed, an MQA over the
# cached latent with QK head dim 512 + 64 and V head dim 512. A decode (query, context) pair costs 2 x 128 x 1,088 =
# 278,528 FLOPs per layer, not 4 x 128 x 160 = 81,920: the IterationModel priced every decode pair 3.4x too cheap.
# DeepSeek-V3 fp8 on 8 x H200, 64 sequences decoding at 128K: attention 4.19e13 -> 1.43e14 FLOPs a step (whole group).
def test_mla_decode_pairs_at_the_absorbed_width():
    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec
    from planner.workloads.serving_iteration import IterationModel
    from planner.workloads.serving_memory import served_model

    hw = option_from_cluster(ClusterSpec(instance="aws:p5en.48xlarge"))
    m = served_model(load_job_dict({"model": {"preset": "deepseek-v3"}}).model)
    im = IterationModel.build(m, hw, 8, "fp8", "fp8")
    B, ctx = 64, 131072
    attn = (im.parts(decode_seqs=B, decode_ctx=B * ctx)["flops"] - im.parts(decode_seqs=B)["flops"]) * 8
    assert attn == pytest.approx(61 * 2 * 128 * (512 + 64 + 512) * B * ctx, rel=1e-9)
    # the prefill keeps the compute-friendly width: 4 x 128 x (192 + 128) / 2 per pair per layer
    pf = (im.parts(prefill_tokens=1, prefill_ctx=ctx)["flops"] - im.parts(prefill_tokens=1)["flops"]) * 8
    assert pf == pytest.approx(61 * 4 * 128 * 160 * ctx, rel=1e-9)


# ---- defect 3: MLA down-projections and MoE routers split 1/tp over a TP group that holds them whole -----------------
# vLLM builds DeepSeek's q_a_proj and kv_a_proj_with_mqa (h x (1536 + 512 + 64) per layer) and every MoE router
# (h x experts) as ReplicatedLinear: every rank stores them, reads them each step and multiplies every token through
# them. serve divided them by tp like the rest. DeepSeek-V3 fp8 TP8: 923.5M fp8 + 106.4M bf16 parameters, 0.93 GiB
# more per GPU (78.35 -> 79.27 GiB), and 2 x 1.03B FLOPs a token on each rank instead of 1/8 of them (+20% of a
# rank's linear FLOPs: TTFT at 32K prompts 1,760 -> 1,863 ms).
def test_mla_and_router_weights_replicated_on_every_tp_rank():
    res = plan_serving(_serve("deepseek-v3"), simulate=False)
    q = 61 * 7168 * (1536 + 512 + 64)
    router = 58 * 7168 * 256
    extra = (1 - 1 / 8) * (q * 1.0 + router * 2.0)
    absorbed = 61 * 512 * 128 * (128 + 128) * 2.0  # the bf16 W_UK / W_UV copies of the fp8 kv_b_proj (below)
    tp8 = [r for r in res["options"] if r["tp"] == 8 and r.get("ep", 1) == 1][0]  # the TP8 row, not EP8 (serveep48)
    assert tp8["weights_gib_per_gpu"] == pytest.approx(res["weights_gib"] / 8 + (extra + absorbed / 8) / GiB, rel=1e-6)

    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec
    from planner.workloads.serving_iteration import IterationModel
    from planner.workloads.serving_memory import served_model

    hw = option_from_cluster(ClusterSpec(instance="aws:p5en.48xlarge"))
    m = served_model(load_job_dict({"model": {"preset": "deepseek-v3"}}).model)
    im = IterationModel.build(m, hw, 8, "fp8", "fp8")
    per_rank = float(im.parts(decode_seqs=1)["flops"])
    assert per_rank == pytest.approx(im.lin_flops / 8 + (1 - 1 / 8) * 2 * (q + router), rel=1e-9)


# ---- MLA's absorbed W_UK / W_UV: vLLM's MLA backends keep 16-bit copies beside a quantised kv_b_proj -------------------
# (vllm/v1/attention/backends/mla/common.py process_weights_after_loading: get_and_maybe_dequant_weights(kv_b_proj)
# makes a new activation-dtype tensor when kv_b_proj is quantised; W_UK_T / W_UV are views of it; kv_b_proj stays for
# the prefill). DeepSeek-V3: 61 x 512 x 128 heads x (128 + 128) = 1.02B parameters, 2.05 GB in bf16, /8 at TP8.
def test_mla_keeps_16_bit_absorbed_copies_beside_a_quantised_kv_b_proj():
    from planner.workloads.serving_memory import mla_absorbed_bytes, served_model, weight_bytes, weight_bytes_per_gpu
    m = served_model(load_job_dict({"model": {"preset": "deepseek-v3"}}).model)
    kv_b = 61 * 512 * 128 * (128 + 128)
    assert mla_absorbed_bytes(m, "fp8") == kv_b * 2.0 and mla_absorbed_bytes(m, "int4") == kv_b * 2.0
    assert mla_absorbed_bytes(m, "bf16") == 0.0 == mla_absorbed_bytes(m, "mxfp4")  # views of the 16-bit weight
    # one GPU holds the fp8 weights and the bf16 copies; in bf16 nothing more than the weights
    assert weight_bytes_per_gpu(m, "fp8", 1) == pytest.approx(weight_bytes(m, "fp8") + kv_b * 2.0, rel=1e-12)
    assert weight_bytes_per_gpu(m, "bf16", 1) == pytest.approx(weight_bytes(m, "bf16"), rel=1e-12)
    # at TP8 each GPU holds 1/8 of them, split by heads like kv_b_proj: test_mla_and_router_weights_replicated_...
    dense = served_model(load_job_dict({"model": {"preset": "llama3-70b"}}).model)
    assert mla_absorbed_bytes(dense, "fp8") == 0.0


def test_dense_gqa_weights_per_gpu_unchanged():
    """Nothing replicated without MLA or MoE: Llama-3-70B's weights per GPU stay weight_bytes / tp."""
    res = plan_serving(_serve("llama3-70b", prompt_tokens=1024), simulate=False)
    for r in res["options"]:
        if r.get("weights_gib_per_gpu") is not None:
            assert r["weights_gib_per_gpu"] == pytest.approx(res["weights_gib"] / r["tp"], rel=1e-12)


# ---- defect 4: MLA's chunked / prefix-cached prefill priced without re-projecting the cached latent -----------------
# vLLM's MLA prefill is an MHA over K and V up-projected from the latent: a chunk that follows computed tokens (an
# earlier chunk, a prefix-cache hit) runs kv_b_proj over every cached token it attends to
# (mla/common.py _compute_prefill_context). 2 x 512 x 128 x (128 + 128) x 61 = 2.05 GFLOP a cached token for
# DeepSeek-V3; serve priced a chunk's cached context as attention pairs only.
def test_mla_prefill_reprojects_the_cached_context():
    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec
    from planner.workloads.serving_iteration import IterationModel
    from planner.workloads.serving_memory import served_model

    hw = option_from_cluster(ClusterSpec(instance="aws:p5en.48xlarge"))
    m = served_model(load_job_dict({"model": {"preset": "deepseek-v3"}}).model)
    im = IterationModel.build(m, hw, 8, "fp8", "fp8")
    c, p = 2048, 30720  # the last 2,048-token chunk of a 32K prompt
    ctx = c * p + c * (c + 1) / 2
    base = float(im.parts(prefill_tokens=c, prefill_ctx=ctx)["flops"])
    with_prior = float(im.parts(prefill_tokens=c, prefill_ctx=ctx, prefill_prior=p)["flops"])
    assert (with_prior - base) * 8 == pytest.approx(p * 2 * 512 * 128 * 256 * 61, rel=1e-9)
    assert im.time(prefill_tokens=c, prefill_ctx=ctx, prefill_prior=p) > im.time(prefill_tokens=c, prefill_ctx=ctx)


def test_mla_context_upproj_flops_by_hand():
    """DeepSeek-V2-Lite re-projects 27 x 2 x 512 x 16 x 256 = 113 MFLOP a cached token; a GQA model nothing."""
    from planner.workloads.serving_iteration import mla_context_upproj_flops

    lite = load_job_dict({"model": {"preset": "deepseek-v2-lite"}}).model
    assert mla_context_upproj_flops(lite) == 27 * 2 * 512 * 16 * 256
    assert mla_context_upproj_flops(load_job_dict({"model": {"preset": "qwen3-30b-a3b"}}).model) == 0.0
