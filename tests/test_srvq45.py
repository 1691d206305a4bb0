"""srvq45: the slot queue's time in service and the TTFT's budget queue at a binding token budget use the real-time
throughput's rule (``serving_screen.budget_decodes`` / ``budget_batch``: where the room beside b decodes cannot hold their
prompt intake, vLLM V1 keeps d = budget x O / (N + O) decoding), so the fleet's queueing and its throughput agree."""
import math

import pytest

from planner.spec import load_job_dict
from planner.workloads.serving import _options
from planner.workloads.serving_screen import (budget_batch, llm_ttft, replica_throughput, screen_concurrency,
                                              slot_service, time_in_service)
from planner.workloads.serving_iteration import lumped_iteration, option_iteration
from planner.workloads.serving_memory import served_model

# QA 70's chat job: llama3-8b, 1,500 / 300 tokens, 30 ms / 500 ms / 25 QPS
CHAT = {"model": {"preset": "llama3-8b"},
        "serving": {"p99_latency_ms": 30, "ttft_ms": 500, "qps": 25, "prompt_tokens": 1500, "output_tokens": 300,
                    "max_batch": 256}}


def _option(catalog, inst: str, tp: int):
    job = load_job_dict({**CHAT, "constraints": {"instances": [inst]}})
    m, s = served_model(job.model), job.serving
    hw = next(h for h in _options(job, catalog, None) if h.name == inst)
    return m, s, hw, option_iteration(m, s, hw, tp)


@pytest.mark.parametrize("inst, tp, batch", [("azure:Standard_ND96amsr_A100_v4", 2, 96),
                                             ("azure:Standard_ND96amsr_A100_v4", 2, 128),
                                             ("gcp:a3-highgpu-8g", 1, 118)])
def test_the_slot_queue_turns_over_at_the_throughput_where_the_budget_binds(catalog, inst, tp, batch):
    """batch / W(batch), the occupancy chain's full-slot rate, was 11.565 / 11.764 / 14.450 req/s against the
    throughput's 11.604 / 11.604 / 14.303: W priced ``batch`` decodes where 512 keeps 85.33 decoding."""
    m, s, hw, im = _option(catalog, inst, tp)
    assert float(budget_batch(s, batch, 512)) < batch  # the budget binds
    rps = float(replica_throughput(im, s, batch, 512)[1])
    assert batch / float(slot_service(im, s, batch, 512)[-1]) == pytest.approx(rps, rel=1e-9)


def test_more_slots_past_the_budgets_batch_serve_no_faster(catalog):
    """Past d = 85.33 each slot added waits in its prompt's chunks: the chain's departure rate n / W(n) stays at the
    throughput (it rose 11.57 -> 11.76 from 96 to 128 slots)."""
    m, s, hw, im = _option(catalog, "azure:Standard_ND96amsr_A100_v4", 2)
    W = slot_service(im, s, 128, 512)
    rates = [n / float(W[n - 1]) for n in (90, 96, 112, 128)]
    assert max(rates) == pytest.approx(min(rates), rel=1e-9)


def test_where_the_room_holds_the_intake_the_time_in_service_is_as_before(catalog):
    """A guard (holds before and after): at 2,048 batch 96's intake fits, so W is the TTFT beside the others and O - 1
    lumped decode steps at b."""
    m, s, hw, im = _option(catalog, "azure:Standard_ND96amsr_A100_v4", 2)
    want = float(llm_ttft(im, s, 95.0, 96, budget=2048)) + 299 * float(lumped_iteration(im, s, 96.0, 2048, 95.0))
    assert float(time_in_service(im, s, 95.0, 96.0, 96, 2048)) == pytest.approx(want, rel=1e-12)


def test_a_replica_under_its_throughput_has_a_finite_ttft(catalog):
    """One A100 TP2 replica at batch 96, budget 512, offered 11.5 req/s, 99% of the 11.60 it is stated to serve: the
    TTFT read inf (the budget queue's capacity was 11.36 req/s: 94.1 decodes beside the prompt chunks, a room of 418
    tokens, where the engine keeps 85.33 decoding and leaves 426.7)."""
    m, s, hw, im = _option(catalog, "azure:Standard_ND96amsr_A100_v4", 2)
    assert float(replica_throughput(im, s, 96, 512)[1]) > 11.5
    L, _ = screen_concurrency(m, s, hw, 2, 11.5, 96, im, 512)
    assert math.isfinite(float(llm_ttft(im, s, L, 96, rate=11.5, budget=512, q=0.99)))
    assert math.isfinite(float(llm_ttft(im, s, L, 96, rate=11.5, budget=512)))
