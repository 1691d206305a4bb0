"""Expert-parallel serving, second pass (serveep48b): the busiest rank a step waits for (the expected maximum of the
routed load over the EP ranks, and the busiest data-parallel rank's sequences), DeepEP's low-latency all-to-all as a
searched backend where vLLM runs it (Hopper and later), refused elsewhere, the ``EP{n}`` layout in every line that
names an option, and a shared prefix held once per data-parallel rank in the simulated replica."""
from __future__ import annotations

import math

import pytest

from conftest import refused, write_job
from planner.interactive import serving_metrics
from planner.present.charts import serving_cost_frame
from planner.hardware.options import option_from_cluster
from planner.spec import ClusterSpec, load_job_dict
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
    """A 4,096-token shared prefix on EP4: the simulated engine holds its 256 blocks once in the pooled blocks, so the
    other 3 ranks' copies (3 x 256 blocks) come out of the pool; a TP4 replica (one engine) keeps its pool."""
    hw = _hw()
    taken_ep = 3 * 4096 // 16
    for ep, taken in ((True, taken_ep), (False, 0)):
        plain = _job(prompt_tokens=5000, expert_parallel=ep)
        shared = _job(prompt_tokens=5000, shared_prefix_tokens=4096, expert_parallel=ep)
        a = replica_spec(plain.model, plain.serving, hw, 4)
        b = replica_spec(shared.model, shared.serving, hw, 4)
        assert b.shared_prefix == 4096 and a.num_blocks - b.num_blocks == taken
    # the prefix's share of the pool, the engine's copy and the others', is the whole prefix on every GPU, as the screen
    # takes it (``kv_prefix_bytes``)
    per_block = kv_bytes_per_token(shared.model, "bf16", 1, 4) * 16
    assert (taken_ep + 4096 // 16) * per_block == pytest.approx(kv_bytes_per_token(shared.model, "bf16") * 4096)


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
