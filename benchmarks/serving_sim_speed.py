"""Speed of the serving simulation on the shape that made ``planner serve`` take minutes (wall-clock;
tests never assert it).

The job: Llama-3-8B chat (800 prompt / 200 output tokens on average, lognormal, cv 0.5), bursty (MMPP)
arrivals at 40 QPS, a 50 ms p99 TPOT and 1 s p99 TTFT target, on A10G / L4 instances. Its options need
10-100 small replicas, each lightly loaded, so every simulated request is a few engine events and every
replica steps on its own: a search run (8,000 requests, ~7M tokens) is ~20,000 events and 40,000-360,000
engine iterations.

1. One simulation of ~1M tokens (the first ~1,000 requests of the search run) at that shape: 28 TP2
   replicas of aws:g5.12xlarge, token budget 512, 64 sequences.
2. The same at the search run's size (180 s of arrivals, ~7,100 requests, ~7M tokens).
3. ``--plan``: ``plan_serving`` on the whole job (the 4 cheapest options, each searched over replica
   counts and token budgets, then confirmed on 30,000 requests): the runs it made and its wall time.

4. ``--jobs [NAME ...]``: ``plan_serving`` on 12 jobs (the README serving examples, the ``planner serve``
   job that took 6-24 s, MoE, TP > 1, sliding-window, shared-prefix, MMPP, SGLang and batch jobs): wall and
   CPU seconds each, its simulations and how many search runs stopped early. ``--dump FILE`` writes every
   answer (the plan's JSON and each simulation's summary but wall time and engine events); ``--against FILE``
   compares with a dump of another checkout's planner (``git worktree add /tmp/base main``, then
   ``PLANNER_TREE=/tmp/base python benchmarks/serving_sim_speed.py --jobs --dump base.json``): IDENTICAL or
   the fields that differ (a search run stopped early is left out: only its
   verdict is used, and the plan's answer shows it).

Run: ``python benchmarks/serving_sim_speed.py [--plan] [--jobs [NAME ...] [--dump F] [--against F]]``. Prints
requests, tokens, engine iterations and events, wall seconds and requests simulated per wall-second.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("PLANNER_TREE", str(ROOT)))  # --jobs --dump from another checkout's planner

from planner.present.script_args import ScriptArgs  # usage errors as one line ``error: <option>: ...``, exit 2
from planner.hardware.options import option_from_cluster  # noqa: E402
import numpy as np  # noqa: E402

from planner.simulate.serving import ArrivalSpec, Workload, simulate_serving  # noqa: E402
from planner.spec import ClusterSpec, load_job_dict  # noqa: E402
from planner.workloads import serving as ws  # noqa: E402
from planner.workloads.serving_screen import ServeTarget  # noqa: E402
from planner.workloads.serving_memory import served_model  # noqa: E402
from planner.workloads.serving_settings import draw_workload, settings_for  # noqa: E402

JOB = {"model": {"preset": "llama3-8b"},
       "serving": {"p99_latency_ms": 50, "ttft_ms": 1000, "qps": 40, "prompt_tokens": 800, "output_tokens": 200,
                   "max_batch": 256, "arrivals": "mmpp"},
       "constraints": {"clouds": ["aws"], "gpus": ["L4-24GB", "A10G-24GB"]}}


def one(label: str, seconds: float, replicas: int = 28, tokens: float | None = None):
    job = load_job_dict(JOB)
    s, m, sim = job.serving, served_model(job.model), settings_for(job)
    hw = option_from_cluster(ClusterSpec(instance="aws:g5.12xlarge"))
    wl = draw_workload(s, ArrivalSpec("mmpp", rate=40.0, duration_s=seconds), sim, m.context_length, 0)
    if tokens:  # the first requests that hold about this many prompt + output tokens
        n = int(np.searchsorted(np.cumsum(wl.prompt + wl.output), tokens)) + 1
        wl = Workload(wl.arrival_s[:n], wl.prompt[:n], wl.output[:n])
    cfg = ws._sim_config(m, s, hw, 2, 64, 512, replicas, ServeTarget(0.05, 1.0, 40.0), sim, min(30.0, wl.span_s / 6))
    t0 = time.perf_counter()
    res = simulate_serving(cfg, wl)
    wall = time.perf_counter() - t0
    tokens = int(wl.prompt.sum() + wl.output.sum())
    print(f"{label:<44} {len(wl):>6,} req {tokens / 1e6:5.2f}M tok {res.iterations:>8,} it {res.engine_events:>7,} ev "
          f"{wall:6.2f} s wall  {len(wl) / wall:8,.0f} req/s  p99 TTFT {res.ttft.p99 * 1e3:5.0f} ms  "
          f"p99 TPOT {res.tpot.p99 * 1e3:5.1f} ms")


def plan():
    job = load_job_dict(JOB)
    runs = []
    t0 = time.perf_counter()
    res = ws.plan_serving(job, progress=lambda done, total, what: runs.append(what))
    wall = time.perf_counter() - t0
    sims = [r for r in res["options"] if r.get("simulated")]
    trials = sum(r["simulated"].get("trials", 0) for r in sims)
    b = res["best"]
    print(f"{'plan_serving (MMPP chat on A10G / L4)':<44} {wall:7.1f} s wall, {len(sims)} options simulated, "
          f"{trials} search/confirm runs; best {b['hardware']} TP{b['tp']} x {b['replicas']}")


JOBS = {
    "task-8b-aws": {"model": {"preset": "llama3-8b"}, "serving": {"qps": 10.0, "p99_latency_ms": 100.0},
                    "constraints": {"clouds": ["aws"]}},
    "ex-chat": "examples/serving-llama3-8b-chat.yaml",
    "ex-70b-tp": "examples/serving-llama3-70b.yaml",
    "ex-batch": "examples/serving-batch-llama3-8b.yaml",
    "ex-resnet": "examples/serving-resnet50.yaml",
    "moe-gptoss": {"model": {"preset": "gpt-oss-120b"},
                   "serving": {"qps": 5, "p99_latency_ms": 60, "ttft_ms": 2000, "precision": "mxfp4"},
                   "constraints": {"clouds": ["aws"], "gpus": ["H100-SXM-80GB", "L40S-48GB"]}},
    "moe-mixtral": {"model": {"preset": "mixtral-8x7b"}, "serving": {"qps": 8, "p99_latency_ms": 80, "ttft_ms": 2000},
                    "constraints": {"clouds": ["aws"]}},
    "swa-gemma": {"model": {"preset": "gemma3-12b"},
                  "serving": {"qps": 6, "p99_latency_ms": 80, "prompt_tokens": 2000, "output_tokens": 300},
                  "constraints": {"clouds": ["aws"]}},
    "prefix-8b": {"model": {"preset": "llama3-8b"},
                  "serving": {"qps": 8, "p99_latency_ms": 80, "ttft_ms": 1500, "prompt_tokens": 3000,
                              "output_tokens": 200, "shared_prefix_tokens": 2048},
                  "constraints": {"clouds": ["aws"]}},
    "mmpp-8b": {"model": {"preset": "llama3-8b"},
                "serving": {"qps": 15, "p99_latency_ms": 60, "ttft_ms": 1000, "arrivals": "mmpp"},
                "constraints": {"clouds": ["gcp"]}},
    "sglang-8b": {"model": {"preset": "llama3-8b"}, "serving": {"qps": 10, "p99_latency_ms": 60, "engine": "sglang"},
                  "constraints": {"clouds": ["aws"]}},
    "batch-gemma": {"model": {"preset": "gemma3-12b"},
                    "serving": {"mode": "batch", "requests": 1.0e6, "prompt_tokens": 1000, "output_tokens": 200},
                    "constraints": {"clouds": ["aws"]}},
}
_DROP = {"wall_s", "engine_events"}  # what may change without the answer changing


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items() if k not in _DROP}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "__dict__") and not isinstance(x, type):
        return _plain(vars(x))
    try:
        json.dumps(x)
        return x
    except TypeError:
        return repr(x)


def jobs(names: list[str]) -> dict:
    """plan_serving on each job, timed; its answers and every simulation's summary."""
    import yaml
    real = ws.simulate_serving
    sims: list = []

    def recorded(cfg, wl, **kw):
        res = real(cfg, wl, **kw)
        d = _plain(res.summary())
        d["timeline"] = {k: [float(x) for x in v[::max(1, len(v) // 50)]] for k, v in res.timeline.items()}
        d["stopped_early"] = getattr(res, "stopped_early", False)
        sims.append(d)
        return res

    ws.simulate_serving = recorded
    out = {}
    try:
        for name in names:
            spec = JOBS[name]
            job = load_job_dict(yaml.safe_load((ROOT / spec).read_text()) if isinstance(spec, str) else spec)
            sims.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            res = ws.plan_serving(job)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            b = res["best"]
            stopped = sum(d["stopped_early"] for d in sims)
            print(f"{name:<12} {wall:7.2f} s wall {cpu:7.2f} s CPU  {len(sims):3d} simulations ({stopped} stopped "
                  f"early)  best {b['hardware']} TP{b['tp']} x {b.get('replicas')}", flush=True)
            out[name] = {"wall_s": wall, "cpu_s": cpu, "plan": _plain(dict(res)), "sims": list(sims)}
    finally:
        ws.simulate_serving = real
    return out


def _diff(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [f"{path}.{k} missing" for k in set(a) ^ set(b)] + \
            [x for k in set(a) & set(b) for x in _diff(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} != {len(b)} items"]
        return [x for i, (u, v) in enumerate(zip(a, b)) for x in _diff(u, v, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def against(base: dict, new: dict):
    """Per job: the time before -> after and whether every answer is identical."""
    for name, n in new.items():
        if name not in base:
            continue
        o = base[name]
        keep = [i for i, d in enumerate(n["sims"]) if not d.get("stopped_early")]
        strip = (lambda sims: [{k: v for k, v in sims[i].items() if k != "stopped_early"} for i in keep])
        d = _diff(o["plan"], n["plan"], "plan")
        d += (_diff(strip(o["sims"]), strip(n["sims"]), "sims") if len(o["sims"]) == len(n["sims"])
              else [f"simulations: {len(o['sims'])} != {len(n['sims'])}"])
        print(f"{name:<12} wall {o['wall_s']:7.2f} -> {n['wall_s']:7.2f} s  CPU {o['cpu_s']:7.2f} -> {n['cpu_s']:7.2f} s  "
              + ("IDENTICAL" if not d else f"{len(d)} DIFFERENCES"))
        for line in d[:10]:
            print("    " + line)


def main():
    ap = ScriptArgs(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", action="store_true", help="also time plan_serving on the whole job (minutes)")
    ap.add_argument("--jobs", nargs="*", metavar="NAME", help=f"plan_serving on these jobs (all: {', '.join(JOBS)})")
    ap.add_argument("--dump", help="--jobs: write the answers to this JSON file")
    ap.add_argument("--against", help="--jobs: compare with a --dump from another checkout")
    a = ap.parse_args()
    print(f"python {sys.version.split()[0]}")
    if a.jobs is not None:
        out = jobs(a.jobs or list(JOBS))
        if a.dump:
            Path(a.dump).write_text(json.dumps(out, default=repr))
        if a.against:
            against(json.loads(Path(a.against).read_text()), out)
        return
    one("~1M tokens: the search run's first requests", 180.0, tokens=1e6)
    one("search-run size: 180 s of MMPP arrivals", 180.0)
    if a.plan:
        plan()


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
