"""Expert-parallel serving across nodes (serveep49): a replica of whole nodes (vLLM's wide EP, ``--data-parallel-size``
over nodes), its token exchange's inter-node bytes at the GPU's NIC share with the comm model's network latency,
DeepEP's low-latency kernels only over InfiniBand / RoCE (not EFA), searched only where one node cannot hold the model
or ``parallel.ep`` asks, and billed by its nodes. Each test failed before serveep49 (no such parameter or function, or
the job refused: "a replica is one node's GPUs at most")."""
from __future__ import annotations

import pytest

from conftest import answered, refused, write_job
from planner.hardware.options import option_from_cluster
from planner.model.comm import NCCL_LL_BASE_S, NCCL_LL_HOP_S
from planner.spec import ClusterSpec
from planner.workloads.serving_budget import billed_nodes
from planner.workloads.serving_iteration import (IterationModel, busiest_rank_pairs, deepep_ll_exchange_time,
                                                 ep_exchange_time)
from planner.workloads.serving_memory import replica_nodes

#: an MoE model of 8 layers x 64 experts of 4096 x 65,536 (3 matrices): 824 GB of bf16 experts, 103 GB a GPU at EP8
#: (more than an 80 GB H100 holds), 51 GB at EP16
BIG = {"family": "moe", "layers": 8, "hidden": 4096, "heads": 32, "kv_heads": 8, "ffn_hidden": 65536, "vocab": 32000,
       "moe": {"experts": 64, "top_k": 2}}
SERVE = {"p99_latency_ms": 500, "ttft_ms": 20000, "qps": 2, "prompt_tokens": 500, "output_tokens": 100}


def _job(cluster, model=BIG, parallel=None, **serving):
    job = {"model": model, "cluster": cluster, "serving": {**SERVE, **serving}}
    if parallel:
        job["parallel"] = parallel
    return job


def test_allgather_exchange_across_nodes_adds_the_nic_ring_and_the_network_hops():
    """EP16 over two 8-GPU nodes: the NVLink ring inside the node on the whole buffer (7/8 N / B), the ring across the
    2 nodes on N / 8 a GPU at its NIC share (1/2 x N / 8 / nic), and NCCL's flat ring's latency: 14 NVLink hops and one
    network hop, twice (dispatch and combine). At one node the one-node price, unchanged."""
    tokens, top_k, act, bw, nic, alpha = 64.0, 8, 14336.0, 4.5e11, 4e10, 15e-6
    n_bytes = tokens * (2 * act + top_k * 8.0)
    latency = NCCL_LL_BASE_S["ring"] + 14 * NCCL_LL_HOP_S["nvlink"]["ring"] + alpha
    want = 2 * latency + 7 / 8 * n_bytes / bw + 0.5 * n_bytes / 8 / nic
    assert float(ep_exchange_time(tokens, 16, top_k, act, bw, 8, nic, alpha)) == pytest.approx(want, rel=1e-12)
    assert ep_exchange_time(tokens, 8, top_k, act, bw, 8, nic, alpha) == ep_exchange_time(tokens, 8, top_k, act, bw)


def test_deepep_low_latency_across_nodes_takes_the_slower_of_nvlink_and_the_nic():
    """DeepEP low latency at EP32 over four nodes: the busiest rank's copies, 7/32 over NVLink and 24/32 over RDMA at
    once, the slower (the NIC) sets each kernel, plus one network latency a kernel."""
    copies = float(busiest_rank_pairs(128.0, 32, 256, 8)) * (7392.0 + 14336.0)
    latency = NCCL_LL_BASE_S["ring"] + NCCL_LL_HOP_S["nvlink"]["ring"] + 15e-6
    want = 2 * latency + max(copies * 7 / 32 / 4.5e11, copies * 24 / 32 / 4e10)
    got = float(deepep_ll_exchange_time(128.0, 32, 256, 8, 7392.0, 14336.0, 4.5e11, 8, 4e10, 15e-6))
    assert got == pytest.approx(want, rel=1e-12)


def test_an_ep16_iteration_model_prices_its_exchange_on_the_nodes_nic():
    """IterationModel.build of an EP16 replica on 8-GPU nodes carries the node's GPUs, the GPU's achieved NIC share and
    the comm model's inter-node latency; its step pays more exchange than the same replica on one 16-GPU node."""
    from planner.spec import load_job_dict
    m = load_job_dict(_job({"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 2})).model
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=2))
    im = IterationModel.build(m, hw, 16, "bf16", "bf16", ep=True)
    assert (im.node_gpus, im.nic_bw, im.inter_alpha) == (8, hw.inter_bw_per_gpu, hw.eff.inter_alpha_s)
    one_node = IterationModel.build(m, hw, 8, "bf16", "bf16", ep=True)
    assert one_node.node_gpus == 0 and one_node.nic_bw == 0.0
    flat = type(im)(**{**im.__dict__, "node_gpus": 0})
    wide, narrow = (x.parts(decode_seqs=64, decode_ctx=64 * 600)["comm"] for x in (im, flat))
    assert wide > narrow


def test_replicas_over_nodes_rent_whole_nodes_each():
    """3 EP16 replicas on 8-GPU nodes rent 6 nodes (before: g // tp = 0, a division by zero); 5 TP2 replicas 2."""
    assert replica_nodes(3, 16, 8) == 6 and replica_nodes(5, 2, 8) == 2
    from planner.results import ServingOption
    row = ServingOption(hardware="x", gpu="g", tp=16, gpus_per_node=8, weights_gib_per_gpu=1.0, precision="bf16",
                        batch_memory_limit=1, price_usd_hr=1.0, price_spot_usd_hr=None,
                        fits=True)
    assert billed_nodes(row, 3) == (6, 1.0)


def test_a_model_no_node_holds_is_served_over_two_nodes(tmp_path, cli):
    """The 824 GB model on 8 x H100 nodes: no one-node layout holds it (EP8 103 GB a GPU), so serve sizes EP16 over
    2 nodes and EP32 over 4 (``EP_SPAN_NODES``), each replica's nodes billed; before serveep49 it was refused ("a
    replica is one node's GPUs at most")."""
    d = answered(cli("serve", write_job(tmp_path, _job({"gpu": "H100-SXM-80GB", "gpus_per_node": 8})),
                     "--no-simulate", "--json"))
    fit = [o for o in d["options"] if o["fits"]]
    assert {o["ep"] for o in fit} == {16, 32}
    for o in fit:
        assert o["nodes"] == o["replicas"] * o["ep"] // 8
    assert d["best"]["ep"] == 16


def test_deepep_low_latency_spans_nodes_on_infiniband_and_is_refused_on_efa(tmp_path, cli):
    """``parallel.ep: 16`` fixes a two-node replica: on InfiniBand (``cluster.fabric: IB-NDR``) DeepEP's low-latency
    exchange is sized beside NCCL's; on an EFA instance (p5.48xlarge) it is left out, and asked for it is refused:
    DeepEP's internode kernels need NVSHMEM over InfiniBand / RoCE."""
    small = {"family": "moe", "layers": 2, "hidden": 1024, "heads": 8, "kv_heads": 8, "ffn_hidden": 512,
             "vocab": 1000, "moe": {"experts": 16, "top_k": 2}}
    ib = answered(cli("serve", write_job(tmp_path, _job({"gpu": "H100-SXM-80GB", "fabric": "IB-NDR"}, small,
                                                        {"ep": 16})), "--no-simulate", "--json"))
    assert {(o["ep"], o["all2all"]) for o in ib["options"]} == {(16, "allgather_reducescatter"),
                                                                (16, "deepep_low_latency")}
    efa = answered(cli("serve", write_job(tmp_path, _job({"instance": "aws:p5.48xlarge"}, small, {"ep": 16}),
                                          "efa.yaml"), "--no-simulate", "--json"))
    assert {(o["ep"], o["all2all"]) for o in efa["options"]} == {(16, "allgather_reducescatter")}
    line = refused(cli("serve", write_job(tmp_path, _job({"instance": "aws:p5.48xlarge"}, small, {"ep": 16},
                                                         all2all_backend="deepep_low_latency"), "ll.yaml"),
                       "--no-simulate"))
    assert line.startswith("error: serving.all2all_backend: an expert-parallel replica across nodes: "
                           "deepep_low_latency: the internode kernels need InfiniBand / RoCE RDMA, not efa"), line


def test_a_model_four_nodes_cannot_hold_says_how_far_ep_was_searched(tmp_path, cli):
    """The same model at 64 layers (197.5 GiB a GPU at EP32): refused, the line naming EP32 the nearest and saying EP
    was searched up to 4 nodes, ``parallel.ep`` for more (before: EP8 the nearest, "one node's GPUs at most")."""
    line = refused(cli("serve", write_job(tmp_path, _job({"gpu": "H100-SXM-80GB", "gpus_per_node": 8},
                                                         {**BIG, "layers": 64})), "--no-simulate"))
    assert "(best: H100-SXM-80GB EP32)" in line and line.endswith(
        "a replica is one node's GPUs at most, EP up to 4 nodes (parallel.ep: more)"), line
