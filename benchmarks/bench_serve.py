"""Speed of the serving simulation (wall-clock; tests never assert it).

1. The issue's yardstick: Llama-3-70B chat (1,024 prompt / 256 output tokens on average, lognormal
   lengths, cv 0.5) at 50 QPS for 10 simulated minutes, TP4 replicas on H100 (p5.48xlarge),
   max_num_seqs 64, token budget 2048, 8 replicas behind a least-outstanding balancer.
2. The same on one replica per 5 QPS (10 replicas) and with bursty (MMPP) arrivals.
3. ``plan_serving`` on examples/serving-llama3-70b.yaml and serving-llama3-8b-chat.yaml end to end (analytic + simulated search).
4. ``--fleet``: the fixed-fleet screen alone (``plan_serving(simulate=False)`` of ``serving.replicas`` jobs): the
   fuzz51 fleet (a 64-expert tiny MoE on 2 x p5.48xlarge, ``replicas: 2``: 18 CPU s before fleet56) and the chat
   example as a fleet of 6: CPU seconds and ``time_in_service`` calls (the fixed point's steps).

Run: ``python benchmarks/bench_serve.py [--fleet]``. Prints requests, iterations, wall seconds and
simulated-seconds per wall-second for each.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.hardware.options import option_from_cluster  # noqa: E402
from planner.simulate.serving import (ArrivalSpec, EngineConfig, LengthDist, ServingSimConfig,  # noqa: E402
                                      make_workload, simulate_serving)
from planner.spec import ClusterSpec, load_job, load_job_dict  # noqa: E402
from planner.workloads.serving import plan_serving  # noqa: E402
from planner.workloads.serving_screen import replica_spec  # noqa: E402


def run(label, arrivals, replicas):
    job = load_job_dict({"model": {"preset": "llama3-70b"}, "serving": {"p99_latency_ms": 100}})
    hw = option_from_cluster(ClusterSpec(instance="aws:p5.48xlarge"))
    spec = replica_spec(job.model, job.serving, hw, 4)
    wl = make_workload(arrivals, LengthDist("lognormal", 1024, 0.5, max=4096), LengthDist("lognormal", 256, 0.5, max=1024))
    cfg = ServingSimConfig(spec, EngineConfig(max_num_seqs=64, max_num_batched_tokens=2048), replicas=replicas,
                           slo_ttft_s=2.0, slo_tpot_s=0.1)
    t0 = time.perf_counter()
    res = simulate_serving(cfg, wl)
    wall = time.perf_counter() - t0
    print(f"{label:<48} {len(wl):>7,} req {res.iterations:>9,} iterations {wall:>6.2f} s wall "
          f"({res.simulated_s / wall:>5.0f}x real time)  p99 TTFT {res.ttft.p99 * 1e3:>6.0f} ms  "
          f"p99 TPOT {res.tpot.p99 * 1e3:>5.1f} ms")
    return wall


TINY_MOE64 = {"name": "tiny-moe", "layers": 4, "hidden": 512, "heads": 8, "vocab": 32000,
              "moe": {"experts": 64, "top_k": 6}}
FLEETS = {"fuzz51 fleet: tiny MoE 64e on 2 x p5.48xlarge, 2 replicas": {
    "model": TINY_MOE64, "cluster": {"instance": "aws:p5.48xlarge", "nodes": 2},
    "serving": {"p99_latency_ms": 50.0, "prompt_tokens": 2048, "output_tokens": 16, "replicas": 2}}}


def fleets():
    """The fixed-fleet screen's CPU and fixed-point steps (fleet56)."""
    import yaml

    from planner.workloads import serving_screen

    chat = yaml.safe_load((ROOT / "examples" / "serving-llama3-8b-chat.yaml").read_text())
    chat["serving"].pop("qps")
    jobs = dict(FLEETS, **{"chat example as a fleet of 6": dict(chat, serving=dict(chat["serving"], replicas=6))})
    calls, real = [0], serving_screen.time_in_service

    def counted(*a, **k):
        calls[0] += 1
        return real(*a, **k)

    serving_screen.time_in_service = counted
    for label, job in jobs.items():
        calls[0], t0 = 0, time.process_time()
        res = plan_serving(load_job_dict(job), simulate=False)
        print(f"{label:<60} {time.process_time() - t0:>6.2f} CPU s  {calls[0]:>7,} time_in_service calls  "
              f"(best {res['best']['hardware']} TP{res['best']['tp']}, {res['best']['fleet_qps']:,.1f} QPS)")


def main():
    print(f"python {sys.version.split()[0]}")
    if "--fleet" in sys.argv[1:]:
        fleets()
        return
    run("70B chat, 50 QPS Poisson, 10 min, 8 x TP4", ArrivalSpec("poisson", 50, 600), 8)
    run("70B chat, 50 QPS Poisson, 10 min, 10 x TP4", ArrivalSpec("poisson", 50, 600), 10)
    run("70B chat, 50 QPS MMPP (x4 bursts), 10 min, 10 x TP4", ArrivalSpec("mmpp", 50, 600), 10)
    for example in ("serving-llama3-70b.yaml", "serving-llama3-8b-chat.yaml"):
        t0 = time.perf_counter()
        res = plan_serving(load_job(ROOT / "examples" / example))
        b = res["best"]
        print(f"{'plan_serving examples/' + example:<48} {time.perf_counter() - t0:>6.2f} s wall "
              f"({sum(r['simulated']['trials'] for r in res['options'] if r.get('simulated'))} simulations; "
              f"best {b['hardware']} TP{b['tp']} x {b['replicas']})")

if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
