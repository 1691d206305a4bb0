"""screen53: serve's screen on an SGLang expert-parallel replica prices a mixed step with the prefill batches of as
many DP engines as hold one in a step that holds any, each on its own rank, the step the busiest rank's
(``prefilling_engines``, ``busiest_lump_weights``; SGLang scheduler.py ``get_next_batch_to_run`` on each DP attention
rank, scheduler_dp_attn_mixin.py ``prepare_mlp_sync_batch``: the ranks step together), and dec53's ``longest_interval``
prices SGLang's room as one engine's prefill batch on its own rank, as ``alternating_terms`` does (sglsim53)."""
import numpy as np
import pytest


def test_prefilling_engines_and_the_busiest_lump_match_a_draw():
    """Against a direct draw: each of 16 engines prefills with probability f_e, a step with at least one holds J of
    them, each a lump from ``lump_grid``'s distribution; the mean J and the largest lump's distribution. Fails before
    screen53 (neither function exists)."""
    from planner.workloads.serving_iteration import busiest_lump_weights, lump_grid, prefilling_engines
    rng = np.random.default_rng(0)
    e = 16
    x, w = lump_grid(0.5)
    for fe in (0.016, 0.062, 0.3):
        J = rng.binomial(e, fe, size=200_000)
        J = J[J > 0]
        assert float(prefilling_engines(fe, e)) == pytest.approx(J.mean(), rel=0.01)
        draws = rng.choice(len(x), size=(len(J), e), p=w / w.sum())
        biggest = np.where(np.arange(e) < J[:, None], draws, -1).max(axis=1)
        seen = np.bincount(biggest, minlength=len(x)) / len(J)
        assert np.abs(busiest_lump_weights(w, fe, e) - seen).max() < 0.01
    assert float(prefilling_engines(0.2, 1)) == pytest.approx(1.0)
    assert np.allclose(busiest_lump_weights(w, 0.2, 1), w)


def test_longest_interval_prices_one_engines_room_on_its_rank():
    """SGLang's longest interval on DeepSeek-V3 fp8 EP16 (two H100 nodes, ``deepep``), 128 slots, a budget of 8,192 a
    rank (room 8,192 over 2,000-token prompts): the prefill batch is one engine's 8,192 tokens on its rank, the step
    ``steady_iteration(one_engine=True)`` prices; before screen53 the room was spread a 2,000-token prompt a rank, a
    shorter step (fails there)."""
    from planner.hardware.options import option_from_cluster
    from planner.spec import ClusterSpec, load_job_dict
    from planner.workloads.serving_iteration import (IterationModel, longest_interval, replica_token_budget,
                                                     steady_iteration)
    from planner.workloads.serving_memory import served_model
    job = load_job_dict({"model": {"preset": "deepseek-v3"}, "cluster": {"gpu": "H100-SXM-80GB"},
                         "serving": {"p99_latency_ms": 100, "engine": "sglang", "prompt_tokens": 2000,
                                     "output_tokens": 500}})
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=2, fabric="IB-NDR"))
    im = IterationModel.build(served_model(job.model), hw, 16, "fp8", "fp8", "sglang", ep=True, all2all="deepep")
    B = 128.0
    got = longest_interval(im, job.serving, B, replica_token_budget(im, 8192))
    one = float(steady_iteration(im, job.serving, B * 15 / 16, prefilling=8192 * 500 / 2000, biased=(B - 1) * 15 / 16,
                                 chunk=8192.0, one_engine=True)["step"])
    spread = float(steady_iteration(im, job.serving, B * 15 / 16, prefilling=8192 * 500 / 2000,
                                    biased=(B - 1) * 15 / 16, chunk=8192.0)["step"])
    assert got == pytest.approx(2 * one)
    assert one > 1.5 * spread
