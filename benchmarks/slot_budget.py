"""The slot queue at a binding token budget (srvq45): for QA 70's chat job and tests/test_serve43b.py's RAG job at
budget 512, where the room beside the batch's decodes cannot hold its prompt intake (``serving_screen.budget_batch`` < the
batch), the slot queue's full-occupancy rate (batch / ``slot_service``'s W(batch)) against the throughput
(``replica_throughput``), and the screen's p99 TTFT (``screen_point``) against the simulated Poisson fleet's at a few
replica counts (seed 0, ``REQUESTS`` requests, max_num_seqs the row's batch, budget 512). ``--screen-only`` prints
the screen's columns without simulating (run it on two checkouts to compare a change of the screen). The table is in
docs/serving_notes.md (srvq45).

    PYTHONPATH=$PWD python benchmarks/slot_budget.py   (~10 min on 2 shared cores; --screen-only ~5 s)
"""
from __future__ import annotations

import sys
from dataclasses import replace

from hardware_catalog import load_catalog
from planner.simulate.serving import simulate_serving
from planner.spec import load_job_dict
from planner.workloads.serving_screen import ServeTarget, budget_batch, replica_throughput, screen_point, slot_service
from planner.workloads.serving import _options, _sim_config
from planner.workloads.serving_iteration import option_iteration
from planner.workloads.serving_memory import served_model
from planner.workloads.serving_settings import settings_for, sim_workload

CHAT = {"model": {"preset": "llama3-8b"},
        "serving": {"p99_latency_ms": 30, "ttft_ms": 500, "qps": 25, "prompt_tokens": 1500, "output_tokens": 300,
                    "max_batch": 256}}
RAG20 = {"model": {"preset": "llama3-8b"},
         "serving": {"qps": 20, "p99_latency_ms": 60, "ttft_ms": 3000, "prompt_tokens": 6000, "output_tokens": 150,
                     "max_batch": 256}}
#: (name, job, instance, TP, the row's batch at 512, replica counts)
CASES = (("chat 1,500/300", CHAT, "azure:Standard_ND96asr_v4", 2, 96, (3, 4)),
         ("chat 1,500/300", CHAT, "azure:Standard_ND96amsr_A100_v4", 2, 96, (3, 4)),
         ("chat 1,500/300", CHAT, "gcp:a3-highgpu-8g", 1, 118, (2, 3)),
         ("RAG 6,000/150", RAG20, "aws:p4de.24xlarge", 1, 13, (12, 14, 16)))
BUDGET, REQUESTS = 512, 6000


def main() -> int:
    cat = load_catalog()
    print("| job | option | batch (d) | replicas | load | slot full rate / throughput req/s | p99 TTFT ms screen "
          "/ simulated |")
    print("|---|---|---|---:|---:|---|---|")
    for name, jd, inst, tp, b, counts in CASES:
        job = load_job_dict({**jd, "constraints": {"instances": [inst]}})
        m, s = served_model(job.model), job.serving
        hw = next(h for h in _options(job, cat, None) if h.name == inst)
        im = option_iteration(m, s, hw, tp)
        tgt = ServeTarget(s.p99_latency_ms / 1e3, s.ttft_ms / 1e3, s.qps)
        rps = float(replica_throughput(im, s, b, BUDGET)[1])
        full = b / float(slot_service(im, s, b, BUDGET)[-1])
        sim = replace(settings_for(job), min_requests=REQUESTS)
        wl = None if "--screen-only" in sys.argv else sim_workload(s, s.qps, REQUESTS / s.qps, REQUESTS, sim, 0, m)
        for r in counts:
            ttft = screen_point(m, s, hw, tp, tgt, b, r, rps, im, BUDGET)[2] * 1e3
            got = float("nan")
            if wl is not None:
                cfg = _sim_config(m, s, hw, tp, b, BUDGET, r, tgt, sim, 30.0, im)
                got = simulate_serving(cfg, wl).summary()["ttft_ms"]["p99"]
            print(f"| {name} | {inst} TP{tp} | {b} ({float(budget_batch(s, b, BUDGET)):.2f}) | {r} | "
                  f"{s.qps / r / rps:.0%} | {full:.3f} / {rps:.3f} | {ttft:,.0f} / {got:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        sys.exit(main())
