"""QA 42's RAG job (Llama-3.1-70B fp8, kv fp8, 16,000 + 300 tokens, 5 QPS): with prompts this long the prefill budget
is the queue that binds the TTFT, and a request that waits for it waits at its own replica, for the prompt in
service there, not for the first of the fleet's replicas to free (rag34; ``llm_ttft``'s prefill-budget queue, as
``jsq_extra_wait`` has it for the slot queue since ttft33)."""
import pytest

from hardware_catalog import load_catalog
from planner.simulate.serving import simulate_serving
from planner.spec import load_job_dict
from planner.workloads import serving as sv
from planner.workloads.serving_screen import ServeTarget, llm_option, llm_ttft, screen_concurrency
from planner.workloads.serving_iteration import option_iteration
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_queue import TTFT_QUANTILE
from planner.workloads.serving_settings import settings_for, sim_workload
from conftest import RAG_JOB

@pytest.mark.parametrize("replicas, old", [(6, 2262.0), (7, 2253.0)])
def test_the_p99_ttft_of_a_long_prompt_fleet_counts_the_wait_at_its_own_replica(replicas, old):
    """B200 TP4 at batch 21, 5 QPS over 6 / 7 replicas (Poisson, the plan's search workload, budget 2,048): the
    simulated p99 TTFT is 2,774 / 2,530 ms; the analytic 2,704 / 2,447. With the prefill queue pooled over the
    replicas alone it read 2,262 / 2,253 (``old``), hardly over the low-load 2,236 -- and the plan sized the option at
    5 replicas (simulated: 7), now 6. Since serve46 the row's batch is sized at the budget it states (2,048: 17; the
    least budget's backlog TPOT gave 21); at 6 replicas its load is under either batch, so its TTFT is batch 21's."""
    job = load_job_dict(RAG_JOB)
    m, s = served_model(job.model), job.serving
    hw = next(h for h in sv._options(job, load_catalog(), None) if h.name == "lambda:gpu_8x_b200_sxm6")
    im = option_iteration(m, s, hw, 4)
    target = ServeTarget(s.p99_latency_ms / 1e3, s.ttft_ms / 1e3, s.qps)
    rate = s.qps / replicas
    L, _ = screen_concurrency(m, s, hw, 4, rate, 21, im)
    got = float(llm_ttft(im, s, L, 21, rate=rate, q=TTFT_QUANTILE, replicas=replicas)) * 1e3
    sim = settings_for(job)
    wl = sim_workload(s, s.qps, sim.search_s, sim.search_requests, sim, sim.seed, m)
    cfg = sv._sim_config(m, s, hw, 4, 21, 2048, replicas, target, sim, min(30.0, wl.span_s / 6), im)
    p99 = simulate_serving(cfg, wl, monitor=False).ttft.p99 * 1e3
    assert got == pytest.approx(p99, rel=0.05)
    assert old < 0.9 * p99  # pooled alone it read well under
    if replicas == 6:
        row = llm_option(m, s, hw, 4, target, im)
        assert (row.batch, row.token_budget, row.queue_replicas) == (17, 2048, 6)
        assert row.ttft_ms == pytest.approx(got, rel=1e-6)
