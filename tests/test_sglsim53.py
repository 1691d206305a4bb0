"""sglsim53: the simulation's prefill-first steps run per DP engine on an expert-parallel replica, as SGLang's DP
attention ranks do (scheduler.py ``get_next_batch_to_run`` on each rank; scheduler_dp_attn_mixin.py
``prepare_mlp_sync_batch``: the ranks step together, each with its own prefill or decode batch). A rank with a prefill
batch pauses its own decodes only; the others decode beside it, in a step two-batch overlap does not split
(two_batch_overlap.py ``TboDPAttentionPreparer``: the ranks' forward modes must agree). Until sglsim53 the simulation
paused every rank's decodes in any prefill step (so all its decode steps split) and admitted only when the replica's
FCFS head had a seat on its own rank."""
import numpy as np
import pytest

P, O, EP, BUDGET = 2000, 500, 16, 8192


def _screen_and_simulation(per_rank: int, overlap: bool) -> tuple[float, float]:
    """(screen, simulated) requests/s of a backlog of 2,000 / 500-token requests (lognormal, cv 0.5) on DeepSeek-V3 fp8
    at EP16 over two H100 nodes, SGLang ``deepep``, ``per_rank`` slots a DP rank; the simulation runs the whole backlog
    (``drain_s``: the default 60 s horizon cut it after its first wave, whose middle finishes are no steady state)."""
    from planner.hardware.options import option_from_cluster
    from planner.simulate.serving import (ArrivalSpec, EngineConfig, LengthDist, ReplicaSpec, ServingSimConfig,
                                          make_workload, simulate_serving)
    from planner.spec import ClusterSpec, load_job_dict
    from planner.workloads.serving_iteration import IterationModel, lumped_parts, replica_token_budget
    from planner.workloads.serving_memory import served_model

    B = per_rank * EP
    job = load_job_dict({"model": {"preset": "deepseek-v3"}, "cluster": {"gpu": "H100-SXM-80GB"},
                         "serving": {"p99_latency_ms": 100, "engine": "sglang", "prompt_tokens": P,
                                     "output_tokens": O, "length_cv": 0.5}})
    hw = option_from_cluster(ClusterSpec(gpu="H100-SXM-80GB", gpus_per_node=8, nodes=2, fabric="IB-NDR"))
    im = IterationModel.build(served_model(job.model), hw, EP, "fp8", "fp8", "sglang", ep=True, all2all="deepep",
                              overlap=overlap)
    f, lumped, bare = lumped_parts(im, job.serving, np.array([float(B)]), replica_token_budget(im, BUDGET))
    screen = B / (O * float(f[0] * lumped[0] + (1 - f[0]) * bare[0]))
    cfg = ServingSimConfig(replica=ReplicaSpec(im, num_blocks=10_000_000),
                           engine=EngineConfig(max_num_seqs=per_rank, max_num_batched_tokens=BUDGET,
                                               policy=im.batching), drain_s=3600.0)
    wl = make_workload(ArrivalSpec("burst", count=B * 6), LengthDist("lognormal", P, 0.5),
                       LengthDist("lognormal", O, 0.5), seed=0)
    return screen, simulate_serving(cfg, wl).steady_rps


@pytest.mark.parametrize("per_rank", [8, 32])
def test_two_batch_overlap_costs_screen_and_simulation_alike(per_rank):
    """SGLang's TBO on this replica: screen -20.1% / -5.7% at 8 / 32 a rank, simulation -19.1% / -4.9% (within 2
    points). On the code before sglsim53 the simulation lost -28.3% / -17.4% (all its decode steps decode-only, so
    split, and its admissions held to the replica's FCFS head): fails there."""
    s0, m0 = _screen_and_simulation(per_rank, False)
    s1, m1 = _screen_and_simulation(per_rank, True)
    assert s1 / s0 < 1.0 and m1 / m0 < 1.0
    assert s1 / s0 == pytest.approx(m1 / m0, abs=0.02)


@pytest.mark.parametrize("per_rank,tol", [(8, 0.05), (32, 0.05)])
def test_the_screen_meets_the_simulated_backlog(per_rank, tol):
    """Without the overlap, the screen's throughput against the whole simulated backlog: 3.17 / 3.10 req/s at 8 a rank
    (+2.3%), 6.72 / 6.13 at 32 (+9.6%: the screen prices one engine's prefill batch a mixed step, the simulation's
    hold 1.5 engines' at 32). Before sglsim53: 3.43 / 3.89 and 7.76 / 10.07 (-12% / -23%; the screen also spread one
    engine's prompt over a rank a prompt, ``steady_iteration(one_engine=)``): fails there. screen53: the mixed step
    holds the expected count of prefilling engines given at least one (1.55 at 32 a rank, 1.12 at 8) and is the
    busiest of their lumps' rank's: 3.12 / 6.00 req/s (+0.6% / -2.1%); at 32 a rank sglsim53's 6.72 (+9.6%) fails
    the 5%."""
    screen, sim = _screen_and_simulation(per_rank, False)
    assert screen / sim == pytest.approx(1.0, abs=tol)
