"""An expert-parallel serving replica's DP engines each schedule their own requests under their own token budget, in
the simulation and the screen alike (serveep50), and ``planner serve``'s terminal says the fleet's spot what-if that its
--json, the report and the app carry, its rate checked (serveep50). Each test fails on the code before: the simulation
pooled an EP replica's prompt chunks under one budget, the screen's rooms were one budget's, the terminal printed no
"spot:" line."""
from __future__ import annotations

import pytest

from conftest import write_job
from test_qa92 import SERVE_B300  # a real-time p6-b300 job at on-demand: its spot what-if at the flagged rate
from test_qa94 import SPOT_CHECK
from test_serveep49b import GPU, KV
from planner.simulate.serving import (ArrivalSpec, EngineConfig, LengthDist, ReplicaSpec, ServingSimConfig,
                                      make_workload, simulate_serving)
from planner.workloads.serving_iteration import IterationModel

EP = 4


def _burst(ep: int, n: int):
    """``n`` 2,000-token prompts (8 output tokens) arriving at once on one replica of ``ep`` DP engines (one GPU's
    coefficients, no expert layers: the step is the busiest rank's), token budget 512: (TTFT p50, the last TTFT)."""
    im = IterationModel(**GPU, kv_bytes=KV / ep, tp=ep, ep=ep, tile_rows=128)
    cfg = ServingSimConfig(replica=ReplicaSpec(im, num_blocks=100_000),
                           engine=EngineConfig(max_num_seqs=64, max_num_batched_tokens=512))
    wl = make_workload(ArrivalSpec("burst", count=n), LengthDist("fixed", 2000),
                       LengthDist("fixed", 8), seed=0)
    res = simulate_serving(cfg, wl)
    assert res.completed == n
    return res.ttft.p50, res.ttft.p99  # p99 of a handful (no interpolation): the last first token


def test_each_dp_engine_prefills_its_own_prompt_within_its_own_budget():
    """Four 2,000-token prompts at once on an EP4 replica at budget 512: vLLM's front end sends them to the four DP
    engines (least waiting x 4 + running), each chunks its own prompt in 512-token steps beside the others, so all four
    see their first token together, after four steps of one rank's 512-token chunk -- the TTFT one prompt alone has.
    Before: one pooled budget of 512 a step, the prompts prefilled one after another (the last after 16 steps, 4x the
    first)."""
    p50, worst = _burst(EP, EP)
    alone = _burst(EP, 1)[1]
    assert worst == pytest.approx(alone, rel=1e-9)
    assert p50 == pytest.approx(worst, rel=1e-9)
    # five prompts: the fifth waits at the engine that took the first (4 x 0 + 1 the least score), behind its prompt
    p50, worst = _burst(EP, EP + 1)
    assert worst > 1.8 * alone and p50 == pytest.approx(alone, rel=0.01)  # (beside the others' decodes)


def test_a_tp_replica_still_pools_one_budget():
    """A replica of one engine (TP): the four prompts share its one budget, prefilled one after another (the guard: the
    same on the old code)."""
    p50, worst = _burst(1, EP)
    assert worst > 3.5 * _burst(1, 1)[1] and worst > 1.3 * p50


def test_the_screens_room_is_every_engines_budget():
    """Qwen3-30B-A3B EP8 on one H100 node at budget 512, 2,000 / 200 tokens, batch 256: the replica's room beside its
    256 decodes is 8 x 512 - 256 = 3,840 tokens, which holds the batch's intake (256 / 200 x 2,000 = 2,560 a step), so
    all 256 keep decoding (``budget_decodes`` at ``replica_token_budget``) and its throughput is over 3x the one pooled
    budget's (512 - d left 46 of the 256 decoding)."""
    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec, load_job_dict
    from planner.workloads.serving_iteration import replica_token_budget
    from planner.workloads.serving_screen import budget_decodes, replica_throughput

    job = load_job_dict({"model": {"preset": "qwen3-30b-a3b"},
                         "serving": {"p99_latency_ms": 200, "qps": 1, "prompt_tokens": 2000, "output_tokens": 200}})
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=1))
    im = IterationModel.build(job.model, hw, 8, "bf16", "bf16", ep=True)
    s = job.serving
    assert replica_token_budget(im, 512) == 8 * 512
    assert float(budget_decodes(s, 256.0, replica_token_budget(im, 512))) == 256.0
    pooled = float(budget_decodes(s, 256.0, 512))
    assert pooled < 50.0
    step, rps = (float(x) for x in replica_throughput(im, s, 256.0, 512))
    assert rps == pytest.approx(256.0 / (200 * step), rel=1e-12)
    assert rps > 3.0 * pooled / (200 * step)


def test_serve_prints_the_spot_what_if_and_checks_its_rate(tmp_path, cli):
    """``planner serve`` (tables) of a real-time p6-b300 job: a "spot:" line, the sentence the report's and the app's
    "Spot:" risk say (``present.serving.spot_whatif_words``), and its flagged spot rate's price check on stderr, as
    ``serve --json`` has them (QA 94). Before: neither."""
    code, out, err = cli("serve", str(write_job(tmp_path, SERVE_B300)), "--no-simulate")
    assert code == 0, err
    spot = [ln for ln in out.splitlines() if ln.startswith("spot: not used (a reclaimed real-time replica drops")]
    assert len(spot) == 1, out
    assert "on spot the fleet would cost $" in " ".join(out.split())
    assert [ln for ln in err.splitlines() if ln.startswith(SPOT_CHECK)], err
