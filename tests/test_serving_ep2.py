"""Expert-parallel serving, second pass (serveep48b): the busiest rank a step waits for (the expected maximum of the
routed load over the EP ranks, and the busiest data-parallel rank's sequences), DeepEP's low-latency all-to-all as a
searched backend where vLLM runs it (Hopper and later), refused elsewhere, the ``EP{n}`` layout in every line that
names an option, and a shared prefix held once per data-parallel rank in the simulated replica."""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import answered, refused, write_job
from planner.interactive import serving_metrics
from planner.present.charts import serving_cost_frame
from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec, load_job_dict
from planner.workloads.serving_iteration import IterationModel, busiest_rank_experts, busiest_rank_pairs
from planner.workloads.serving_memory import kv_bytes_per_token
from planner.workloads.serving_screen import replica_spec

SMALL = {"family": "moe", "layers": 2, "hidden": 512, "heads": 8, "kv_heads": 8, "ffn_hidden": 256, "vocab": 1000,
         "moe": {"experts": 8, "top_k": 2}}


def _job(model=SMALL, **serving):
    return load_job_dict({"model": model, "cluster": {"gpu": "H100-SXM-80GB", "gpus_per_node": 8, "nodes": 1},
                          "serving": {"p99_latency_ms": 100, "prompt_tokens": 100, "output_tokens": 20, **serving}})


def _hw(gpu="H100-SXM-80GB"):
    return option_from_cluster(ClusterSpec(gpu=gpu, nodes=1))


def test_ep_replica_pool_holds_the_shared_prefix_once_per_data_parallel_rank():
    """A 4,096-token shared prefix on EP4: the replica's blocks are its 4 GPUs' whole pools, nothing taken out up front
    (servekv50: each simulated DP engine owns 1/4 of them and holds its own 256-block copy, tests/test_servekv50.py;
    serveep48b took the 3 other ranks' copies out of one pooled count); a TP4 replica keeps its pool too. The 4
    copies are the whole prefix on every GPU, as the screen takes it (``kv_prefix_bytes``)."""
    hw = _hw()
    for ep in (True, False):
        plain = _job(prompt_tokens=5000, expert_parallel=ep)
        shared = _job(prompt_tokens=5000, shared_prefix_tokens=4096, expert_parallel=ep)
        a = replica_spec(plain.model, plain.serving, hw, 4)
        b = replica_spec(shared.model, shared.serving, hw, 4)
        assert b.shared_prefix == 4096 and a.num_blocks == b.num_blocks
    per_block = kv_bytes_per_token(shared.model, "bf16", 1, 4) * 16
    assert 4 * (4096 // 16) * per_block == pytest.approx(kv_bytes_per_token(shared.model, "bf16") * 4096)


def test_an_ep_option_is_named_by_its_layout_in_refusals_charts_and_the_app(cli, tmp_path):
    """An EP8 option was named "TP8" outside the options table: the refusal naming the nearest option and its reason,
    the cost chart's bars and the app's hardware metric (and the report's "Serve ..." line) read ``replica_layout``."""
    job = {"model": {"preset": "qwen3-30b-a3b"}, "cluster": {"instance": "aws:p5.48xlarge"}, "parallel": {"ep": 8},
           "constraints": {"max_gpus": 4},
           "serving": {"qps": 20, "p99_latency_ms": 50, "prompt_tokens": 1000, "output_tokens": 200}}
    assert refused(cli("serve", write_job(tmp_path, job), "--no-simulate")) == (
        "error: constraints.max_gpus: no option meets the constraints; nearest: aws:p5.48xlarge EP8 (bf16): one EP8 "
        "replica needs 8 GPUs, over max_gpus (4)")
    best = {"hardware": "aws:p5.48xlarge", "tp": 8, "ep": 8, "precision": "bf16", "replicas": 2, "usd_per_hr": 110.0,
            "sized_by": "simulated", "nodes": 2}
    frame = serving_cost_frame({"options": [best, {**best, "ep": 1}], "budget": {"hours_per_month": 730}})
    assert list(frame["option"]) == ["aws:p5.48xlarge EP8 x2", "aws:p5.48xlarge TP8 x2"]
    view = {"plan": {"best": best}, "job": load_job_dict({**job, "constraints": {}})}
    assert serving_metrics(view)[0] == ("hardware", "aws:p5.48xlarge EP8")


def test_busiest_rank_load_is_the_expected_max_of_a_seeded_random_routing():
    """The busiest rank's routed pairs and touched experts against seeded uniform routings: 4,000 of 32 tokens (top-4
    of 64 experts over 8 ranks) and 20,000 of one token (top-8 of 256), within 2% of the draws' mean maximum; 1 rank:
    the mean."""
    rng = np.random.default_rng(7)
    T, E, k, N = 32, 64, 4, 8
    picks = np.argsort(rng.random((4000, T, E)), axis=2)[:, :, :k]  # k distinct experts a token
    rank = picks // (E // N)
    pairs = np.stack([(rank == r).sum(axis=(1, 2)) for r in range(N)], axis=1).max(axis=1).mean()
    hit = np.zeros((4000, E), bool)
    np.put_along_axis(hit, picks.reshape(4000, -1), True, axis=1)
    touched = hit.reshape(4000, N, E // N).sum(axis=2).max(axis=1).mean()
    assert float(busiest_rank_pairs(float(T), N, E, k)) == pytest.approx(pairs, rel=0.02)
    assert float(busiest_rank_experts(float(T), N, E, k)) == pytest.approx(touched, rel=0.02)
    assert float(busiest_rank_pairs(float(T), N, E, k)) > T * k / N  # over the mean rank's 16
    assert busiest_rank_pairs(32.0, 1, E, k) == 128.0
    # one token of DeepSeek-V3's router (top-8 of 256) over 8 ranks: 1 pair a rank on average, ~2.57 on the busiest,
    # where a plain normal approximation (no skewness term) gives 2.40
    one = np.argsort(rng.random((20000, 256)), axis=1)[:, :8] // 32
    drawn = np.stack([(one == r).sum(axis=1) for r in range(8)], axis=1).max(axis=1).mean()
    assert float(busiest_rank_pairs(1.0, 8, 256, 8)) == pytest.approx(drawn, rel=0.02)
    assert float(busiest_rank_experts(1.0, 8, 256, 8)) == pytest.approx(drawn, rel=0.02)  # one token: the same count


def test_an_ep_decode_step_waits_for_the_rank_with_the_most_sequences():
    """5 decodes over EP4: vLLM's front end balances the DP engines' counts, so one rank holds 2 and the step reads 2
    sequences' KV there, 8/5 of the mean rank's (the replica's 5 / 4): the memory term by hand."""
    m, hw = _job().model, _hw()
    ep = IterationModel.build(m, hw, 4, "bf16", "bf16", ep=True)
    B, ctx = 5.0, 5 * 4000.0
    parts = ep.parts(decode_seqs=B, decode_ctx=ctx)
    touched = 4 * float(busiest_rank_experts(B, 4, 8, 2))
    want = (ep.dense_bytes + 2 * ep.expert_bytes * touched + ep.kv_bytes * ctx * 8 / 5) / ep.bytes_rate
    assert float(parts["memory"]) == pytest.approx(want, rel=1e-12)
    # 8 decodes are even (2 a rank): the mean rank's KV read
    even = ep.parts(decode_seqs=8.0, decode_ctx=8 * 4000.0)
    touched8 = 4 * float(busiest_rank_experts(8.0, 4, 8, 2))
    assert float(even["memory"]) == pytest.approx(
        (ep.dense_bytes + 2 * ep.expert_bytes * touched8 + ep.kv_bytes * 8 * 4000.0) / ep.bytes_rate, rel=1e-12)


def test_deepep_low_latency_exchange_is_the_busiest_ranks_copies_by_hand():
    """EP4 of the small MoE on H100s with DeepEP's low-latency kernels: per MoE layer two kernels of one NCCL LL step
    over NVLink (6.6 + 0.6 us) and the busiest rank's routed copies from its 3 peers (3/4), a 16-bit dispatch and
    combine of 2,048 channels each (vLLM rounds the 512-wide hidden up to the kernels' smallest); fp8 weights dispatch
    fp8 with a 4-byte scale per 128 channels."""
    m, hw = _job().model, _hw()
    ll = IterationModel.build(m, hw, 4, "bf16", "bf16", ep=True, all2all="deepep_low_latency")
    ag = IterationModel.build(m, hw, 4, "bf16", "bf16", ep=True)
    assert ag.all2all == "allgather_reducescatter" and ll.dispatch_bytes == ll.combine_bytes == 4096.0
    B = 16.0
    copies = float(busiest_rank_pairs(B, 4, 8, 2)) * 3 / 4
    want = 2 * (2 * (6.6e-6 + 0.6e-6) + copies * (4096 + 4096) / hw.intra_bw_eff)
    assert float(ll.parts(decode_seqs=B, decode_ctx=B * 100)["comm"]) == pytest.approx(want, rel=1e-12)
    assert float(ll.parts(decode_seqs=B, decode_ctx=B * 100)["comm"]) != pytest.approx(
        float(ag.parts(decode_seqs=B, decode_ctx=B * 100)["comm"]))
    fp8 = IterationModel.build(m, hw, 4, "fp8", "bf16", ep=True, all2all="deepep_low_latency")
    assert fp8.dispatch_bytes == 2048 + 2048 / 128 * 4


def test_serve_searches_deepep_low_latency_on_hopper_and_refuses_it_elsewhere(cli, tmp_path):
    """On H100s every EP option comes twice, vLLM's default exchange and DeepEP's low-latency one (``all2all``); on
    A100s (compute capability 8.0) only the default, and asking for DeepEP there is refused by name, as on a model wider
    than its kernels (9,216 > 8,192) and on a dense model."""
    def job(gpu, model=SMALL, **serving):
        return {"model": model, "cluster": {"gpu": gpu, "gpus_per_node": 8, "nodes": 1, "price_usd_hr": 10.0},
                "serving": {"qps": 5, "p99_latency_ms": 100, "prompt_tokens": 100, "output_tokens": 20, **serving}}
    rows = answered(cli("serve", write_job(tmp_path, job("H100-SXM-80GB")), "--no-simulate", "--json"))
    rows = rows["options"] + rows.get("rejected", [])
    assert {(r["ep"], r.get("all2all")) for r in rows if r["tp"] == 4} == {
        (1, None), (4, "allgather_reducescatter"), (4, "deepep_low_latency")}
    a100 = answered(cli("serve", write_job(tmp_path, job("A100-SXM-80GB"), "a.yaml"), "--no-simulate", "--json"))
    assert {r.get("all2all") for r in a100["options"] + a100.get("rejected", [])} == {None, "allgather_reducescatter"}
    assert refused(cli("serve", write_job(tmp_path, job("A100-SXM-80GB", all2all_backend="deepep_low_latency"), "b.yaml"),
                       "--no-simulate")) == (
        "error: serving.all2all_backend: DeepEP (deepep_low_latency) needs an NVIDIA GPU of compute capability 9.0 or "
        "up; A100-SXM-80GB is 8.0; leave it out, or choose hardware that runs it")
    wide = {**SMALL, "hidden": 9216, "heads": 72, "kv_heads": 8}
    assert refused(cli("serve", write_job(tmp_path, job("H100-SXM-80GB", wide, all2all_backend="deepep_low_latency"),
                                          "w.yaml"), "--no-simulate")) == (
        "error: serving.all2all_backend: vLLM's deepep_low_latency kernels are built for hidden sizes up to 8,192; "
        "custom has 9,216; leave it out, or choose hardware that runs it")
    assert refused(cli("serve", write_job(tmp_path, job("H100-SXM-80GB", {"preset": "llama3-8b"},
                                                        all2all_backend="deepep_low_latency"), "c.yaml"),
                       "--no-simulate")).startswith("error: serving.all2all_backend: it is an expert-parallel replica's")
