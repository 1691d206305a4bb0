"""deepep52: an expert-parallel serving replica's token exchange as SGLang's DeepEP runs it (``--moe-a2a-backend
deepep``, ``--deepep-mode auto``): normal kernels on prompt steps, a token crossing the network once to each node holding
one of its experts (planner.model.moe ``dispatch_bytes``' per-node deduplication, training's rule), low-latency kernels on
decode steps; SGLang's only (vLLM runs one DeepEP mode for every step). Each test < 3 s."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import refused, write_job
from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving import all2all_backends
from planner.workloads.serving_iteration import (EP_ALL2ALL, IterationModel, deepep_ll_exchange_time,
                                                 deepep_normal_exchange_time)
from planner.workloads.serving_memory import served_model

SMALL = {"family": "moe", "layers": 2, "hidden": 512, "heads": 8, "kv_heads": 8, "ffn_hidden": 256, "vocab": 1000,
         "moe": {"experts": 8, "top_k": 2}}


def test_normal_mode_sends_a_token_once_to_each_remote_node_it_has_an_expert_on():
    """EP32 over four 8-GPU nodes, 256 experts top-8 routed uniformly: with the NIC the only slow link, the normal
    kernels' bandwidth seconds are a rank's own tokens x the distinct remote nodes a token reaches x a row's bytes over
    the NIC. The distinct count drawn from seeded routings (20,000 tokens: 3 x (1 - C(192, 8) / C(256, 8)) = 2.70
    expected) matches to 1%; the low-latency kernels send every (token, expert) pair off the node, 8 x 24 / 32 = 6."""
    rng = np.random.default_rng(0)
    picks = np.argsort(rng.random((20_000, 256)), axis=1)[:, :8]  # 8 distinct experts a token
    node = picks // 64  # 64 experts a node; the sender on node 0
    remote = np.mean([len(set(r)) - (0 in r) for r in node.tolist()])
    tokens, ranks, row, nic = 32 * 512.0, 32, 1000.0, 1e9
    t = deepep_normal_exchange_time(tokens, ranks, 256, 8, row, 0.0, 1e18, 8, nic)
    fixed = deepep_normal_exchange_time(0.0, ranks, 256, 8, row, 0.0, 1e18, 8, nic)
    assert (t - fixed) * nic / (512 * row) == pytest.approx(remote, rel=0.01)
    assert remote < 3.0 < 6.0


def _job(engine="sglang", model=None, **serving):
    return load_job_dict({"model": model or {"preset": "deepseek-v3"}, "cluster": {"gpu": "H100-SXM-80GB"},
                          "serving": {"p99_latency_ms": 100, "engine": engine, **serving}})


def _ds3(all2all, ranks=32):
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=4, fabric="IB-NDR"))
    m = served_model(_job().model)
    return IterationModel.build(m, hw, ranks, "fp8", "fp8", "sglang", ep=True, all2all=all2all)


def test_sglangs_deepep_runs_normal_kernels_on_prompt_steps_and_low_latency_ones_on_decode_steps():
    """DeepSeek-V3 fp8 on EP32 over 4 H100 nodes (InfiniBand), SGLang: a decode-only step's exchange is the low-latency
    kernels' to the microsecond; a step with 8 whole 2,000-token prompts a DP engine pays the normal kernels' (per-node
    copies, the group limit of 4 of 8 groups, the host sync), well under half the low-latency price of the same tokens,
    and the step under vLLM's default all-gather's. Until deepep52 there was no ``deepep`` exchange (KeyError)."""
    im, ll = _ds3("deepep"), _ds3("deepep_low_latency")
    dec = dict(decode_seqs=32 * 128.0, decode_ctx=32 * 128 * 2050.0)
    assert im.parts(**dec)["comm"] == pytest.approx(ll.parts(**dec)["comm"], rel=1e-12)
    pre = im.prompt_prefill(0.0, 2000.0, 32 * 8)
    tokens = pre["prefill_tokens"]
    normal = deepep_normal_exchange_time(tokens, 32, 256, 8, im.dispatch_bytes, im.combine_bytes, im.ar_bw, 8,
                                         im.nic_bw, im.inter_alpha, 8, 4, im.normal_sync_s)
    assert im.parts(**pre)["comm"] == pytest.approx(im.moe_layers * normal, rel=1e-12)
    llt = deepep_ll_exchange_time(tokens, 32, 256, 8, im.dispatch_bytes, im.combine_bytes, im.ar_bw, 8, im.nic_bw,
                                  im.inter_alpha)
    assert normal < 0.5 * llt
    assert im.parts(**pre)["step"] < _ds3("allgather_reducescatter").parts(**pre)["step"]


def test_deepep_auto_is_searched_on_sglang_only_and_refused_by_name_on_vllm(cli, tmp_path):
    """On H100s an SGLang job's EP options are searched with three exchanges (``deepep`` too), a vLLM job's with two;
    on A100s (compute capability 8.0) neither DeepEP one. Asking vLLM for ``deepep`` is refused naming the engine, in
    one line, exit 2."""
    h100, a100 = (option_from_cluster(ClusterSpec(gpu=g, nodes=1)) for g in ("H100-SXM-80GB", "A100-SXM-80GB"))
    m = served_model(_job().model)
    assert all2all_backends(_job().serving, h100, m) == ("allgather_reducescatter", "deepep_low_latency", "deepep")
    assert all2all_backends(_job("vllm").serving, h100, m) == ("allgather_reducescatter", "deepep_low_latency")
    assert all2all_backends(_job().serving, a100, m) == ("allgather_reducescatter",)
    job = {"model": SMALL, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1, "price_usd_hr": 10.0},
           "serving": {"qps": 5, "p99_latency_ms": 100, "prompt_tokens": 100, "output_tokens": 20, "engine": "vllm",
                       "all2all_backend": "deepep"}}
    assert refused(cli("serve", write_job(tmp_path, job), "--no-simulate")) == (
        "error: serving.all2all_backend: deepep is sglang's token exchange, not vllm's; leave it out, or set "
        "serving.engine: sglang")


def test_deepep_auto_keeps_the_low_latency_kernels_needs():
    """Its decode steps run the low-latency kernels, so it needs what they need: SM90, and RDMA across nodes (an EFA
    p5 replica over two nodes is refused, as ``deepep_low_latency`` is)."""
    a100 = option_from_cluster(ClusterSpec(gpu="A100-SXM-80GB", nodes=1))
    assert "compute capability 9.0" in EP_ALL2ALL["deepep"].refusal("deepep", a100.gpu, served_model(_job().model))
    efa = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=2, fabric="EFA-v2-p5"))
    assert EP_ALL2ALL["deepep"].span_refusal("deepep", efa) == EP_ALL2ALL["deepep_low_latency"].span_refusal(
        "deepep_low_latency", efa) is not None
