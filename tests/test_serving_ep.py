"""Expert-parallel serving of MoE models (serveep48): a replica's experts spread over its GPUs with data-parallel
attention (vLLM ``--data-parallel-size N --enable-expert-parallel``; planner/workloads/serving_memory.py
``ReplicaSplit``), its memory and step time derived by hand for a small MoE against tensor parallelism, searched beside
TP in ``serve`` (the ``ep`` column) and refused for a dense model."""
from __future__ import annotations

import math

import pytest

from conftest import answered, refused, write_job
from planner.errors import InputError
from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec, load_job_dict
from planner.spec.params import count_params
from planner.workloads.serving_iteration import IterationModel
from planner.workloads.serving_memory import RESERVED_BYTES, kv_bytes_per_token, weight_bytes_per_gpu
from planner.workloads.serving import serving_splits
from planner.workloads.serving_screen import ServeTarget, llm_option

#: 2 MoE layers of 8 experts (top-2), each expert a SwiGLU of 512 -> 256 -> 512: 3 x 512 x 256 = 393,216 parameters
SMALL = {"family": "moe", "layers": 2, "hidden": 512, "heads": 8, "kv_heads": 8, "ffn_hidden": 256, "vocab": 1000,
         "moe": {"experts": 8, "top_k": 2}}
EXPERTS = 2 * 8 * 3 * 512 * 256
ROUTER = 2 * 512 * 8  # h x experts per MoE layer, kept whole on every TP rank (vLLM ReplicatedLinear)


def _job(model=SMALL, **serving):
    return load_job_dict({"model": model, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1},
                          "serving": {"p99_latency_ms": 100, "prompt_tokens": 100, "output_tokens": 20, **serving}})


def _hw():
    return option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", nodes=1))


def test_ep_memory_per_gpu_is_the_experts_split_and_the_rest_whole():
    """Weights: TP4 holds 1/4 of everything + 3/4 of the replicated router; EP4 the experts / 4 and the rest whole.
    KV: each DP rank holds its own tokens whole, so the replica's mean per GPU is a token's / 4, as TP4's 2 of 8 heads."""
    m = _job().model
    total = count_params(m).total
    tp4 = weight_bytes_per_gpu(m, "bf16", 4)
    ep4 = weight_bytes_per_gpu(m, "bf16", 4, ep=True)
    assert tp4 == pytest.approx(2.0 * total / 4 + 0.75 * ROUTER * 2.0, rel=1e-12)
    assert ep4 == pytest.approx(2.0 * (total - EXPERTS) + 2.0 * EXPERTS / 4, rel=1e-12)
    token = 2 * 2 * 8 * 64 * 2.0  # K and V, 2 layers, 8 KV heads of 64, bf16
    assert kv_bytes_per_token(m, "bf16", 1, dp=4) == token / 4 == kv_bytes_per_token(m, "bf16", 4)
    # an MLA model's one latent is whole on every TP rank: only EP's data-parallel attention divides it
    ds = load_job_dict({"model": {"preset": "deepseek-v2-lite"}}).model
    assert kv_bytes_per_token(ds, "bf16", 1, dp=8) * 8 == kv_bytes_per_token(ds, "bf16", 8)


def test_ep_option_kv_capacity_is_the_free_memory_over_the_ranks_mean_kv():
    """``llm_option`` on EP4: capacity = (0.9 x HBM - weights - 1 GiB) / (a token's KV / 4), by hand."""
    job, hw = _job(), _hw()
    s = job.serving.model_copy(update={"expert_parallel": True})
    row = llm_option(job.model, s, hw, 4, ServeTarget(tpot_s=0.1, ttft_s=None, qps=None))
    free = hw.gpu.memory_bytes * 0.9 - weight_bytes_per_gpu(job.model, "bf16", 4, ep=True) - RESERVED_BYTES
    assert row.ep == 4 and row.tp == 4
    assert row.kv_capacity_tokens == math.floor(free / (2 * 2 * 8 * 64 * 2.0 / 4))
    tp_row = llm_option(job.model, job.serving.model_copy(update={"expert_parallel": False}), hw, 4,
                        ServeTarget(tpot_s=0.1, ttft_s=None, qps=None))
    assert tp_row.ep == 1 and tp_row.weights_gib_per_gpu < row.weights_gib_per_gpu


def test_ep_step_is_the_roofline_plus_a_dispatch_and_combine_per_moe_layer():
    """One decode step of 8 sequences at context 1,000 on EP4 and TP4, the terms by hand: FLOPs / 4 either way, the
    rows padded per rank on EP (ceil(8 / 4 / tile) tiles on each of 4 ranks), EP reading the whole non-expert weights
    and exchanging tokens (NCCL ring latency 6.6 + 3 x 0.6 us and (n-1)/n of the bytes, twice per MoE layer) in place
    of TP's two all-reduces per layer."""
    m, hw = _job().model, _hw()
    ep = IterationModel.build(m, hw, 4, "bf16", "bf16", ep=True)
    tp = IterationModel.build(m, hw, 4, "bf16", "bf16")
    assert ep.ep == 4 and tp.ep == 1 and ep.lin_flops_replicated == 0.0 < tp.lin_flops_replicated
    assert ep.lin_flops == tp.lin_flops and ep.expert_bytes == tp.expert_bytes == 2.0 * 3 * 512 * 256 / 4
    assert ep.dense_bytes - tp.dense_bytes == pytest.approx(
        weight_bytes_per_gpu(m, "bf16", 4, ep=True) - weight_bytes_per_gpu(m, "bf16", 4), rel=1e-12)
    B, ctx = 8, 8 * 1000.0
    rows = math.ceil(B / 4 / ep.tile_rows) * ep.tile_rows * 4
    # the busiest rank (serveep48b): 2 decodes on every rank; its experts run 16 / 4 pairs + sqrt(c x 8) x 1.0294 (the
    # expected max of 4 normals), c = 2 (8 - 2) / (7 x 4), + the skewness term (1 - 2/4)(8 - 4) / (8 - 2) / 6 x
    # (1.5513 - 1) (E Z^2 of that max), and its 2 experts are both touched (the expected max over 2 is held to 2)
    busiest = (4 + math.sqrt(2 * 6 / 28 * B) * 1.0294 + 0.5 * 4 / 6 / 6 * (1.5513 - 1)) / 4
    routed = 2 * 2 * 2 * 3 * 512 * 256  # 2 MoE layers x top-2 x 2 FLOPs x an expert's parameters
    assert ep.routed_flops == routed
    compute = ((ep.lin_flops + routed * (busiest - 1)) * rows / ep.flops_rate / 4
               + ep.attn_flops_decode * ctx / ep.attn_rate / 4)
    touched = 8
    memory = (ep.dense_bytes + 2 * ep.expert_bytes * touched + ep.kv_bytes * ctx) / ep.bytes_rate
    exchange = 2 * (6.6e-6 + 3 * 0.6e-6) + 0.75 * B * (2 * 2 * 512 + 2 * 8.0) / hw.intra_bw_eff
    want = max(compute, memory) + 2 * exchange + ep.kernel_s + ep.host_s
    assert float(ep.time(decode_seqs=B, decode_ctx=ctx)) == pytest.approx(want, rel=1e-4)
    parts = ep.parts(decode_seqs=B, decode_ctx=ctx)
    assert parts["comm"] == pytest.approx(2 * exchange, rel=1e-12)
    # TP4's communication is its two all-reduces per layer, whatever the MoE layers
    assert tp.parts(decode_seqs=B, decode_ctx=ctx)["comm"] != pytest.approx(2 * exchange)


def test_splits_search_ep_beside_tp_for_moe_and_refuse_it_for_dense():
    assert serving_splits(_job(), _job().model) == ((1, False), (2, False), (2, True), (4, False), (4, True),
                                                    (8, False), (8, True))
    assert serving_splits(_job(expert_parallel=False), _job().model) == ((1, False), (2, False), (4, False),
                                                                         (8, False))
    dense = _job(model={"preset": "llama3-8b"}, expert_parallel=True)
    with pytest.raises(InputError) as e:
        serving_splits(dense, dense.model)
    assert e.value.field == "serving.expert_parallel"
    pinned = load_job_dict({"model": SMALL, "parallel": {"ep": 4}, "serving": {"p99_latency_ms": 100}})
    assert serving_splits(pinned, pinned.model) == ((4, True),)


def test_serve_json_lists_ep_options_for_an_moe_and_refuses_ep_on_a_dense_model(cli, tmp_path):
    """End to end: a Qwen3-30B-A3B job on one p5.48xlarge lists EP2 / EP4 / EP8 rows (``ep`` = ``tp``) beside TP
    rows (``ep`` 1); EP8 holds more weights per GPU than TP8 and its replica more KV tokens than TP8's (GQA's 4 KV
    heads are replicated past TP4, data-parallel attention keeps each once). ``serving.expert_parallel`` and
    ``parallel.ep`` on Llama-3-8B are refused, each by name."""
    job = {"model": {"preset": "qwen3-30b-a3b"}, "cluster": {"instance": "aws:p5.48xlarge"},
           "serving": {"qps": 20, "p99_latency_ms": 50, "ttft_ms": 2000, "prompt_tokens": 1000, "output_tokens": 200}}
    rows = answered(cli("serve", write_job(tmp_path, job), "--no-simulate", "--json"))["options"]
    by = {(r["tp"], r["ep"]): r for r in rows}
    assert {(2, 2), (4, 4), (8, 8), (1, 1), (8, 1)} <= set(by)
    assert by[8, 8]["weights_gib_per_gpu"] > by[8, 1]["weights_gib_per_gpu"]
    assert by[8, 8]["kv_capacity_tokens"] > by[8, 1]["kv_capacity_tokens"]
    dense = {"model": {"preset": "llama3-8b"}, "cluster": {"instance": "aws:p5.48xlarge"},
             "serving": {"qps": 5, "p99_latency_ms": 50, "expert_parallel": True}}
    assert refused(cli("serve", write_job(tmp_path, dense, "d.yaml"), "--no-simulate")).startswith(
        "error: serving.expert_parallel: expert parallelism spreads an MoE model's experts over a replica's GPUs; "
        "llama3-8b is dense")
    dense = {**dense, "parallel": {"ep": 2}, "serving": {"qps": 5, "p99_latency_ms": 50}}
    assert refused(cli("serve", write_job(tmp_path, dense, "e.yaml"), "--no-simulate")).startswith(
        "error: parallel.ep: ")
