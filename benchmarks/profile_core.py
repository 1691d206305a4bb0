"""Where one call of the analytic core spends its time (CPU seconds, not timed assertions).

``python benchmarks/profile_core.py [N]`` (default N = 10,000): ``memory_per_gpu`` + ``step_time`` on N random dense
layouts of the Llama-3-70B example on p5.48xlarge (bench_search.py's candidates), then the same at 100 rows: the
difference is what grows with the rows, the 100-row call is mostly the per-call fixed cost. Each of step_time's stages
is wrapped and timed with ``time.process_time`` (fastest quarter of 40 calls, so that a shared machine's preemptions
drop out). ``--recommend EXAMPLE`` profiles one ``recommend`` (simulate off) under cProfile on CPU time instead and
prints the 30 functions of most own time: cProfile's per-call overhead inflates the Python-heavy functions (a
generator over 376,000 memo keys reads ~0.9 s under it, ~0.1 s without), so read its shares with that in mind.
"""
from __future__ import annotations

import cProfile
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import planner.model.step_time as S  # noqa: E402
from bench_search import random_candidates  # noqa: E402
from hardware_catalog import load_catalog  # noqa: E402
from planner.alloc import keep_freed_memory  # noqa: E402
from planner.hardware.options import option_from_instance  # noqa: E402
from planner.model.memory import memory_per_gpu  # noqa: E402
from planner.spec import load_job  # noqa: E402

#: step_time's stages (planner.model.step_time._step_rows) and the two keyed computations inside them
STAGES = ("step_inputs", "stage_keys", "layer_rows", "layer_terms", "pacing_stage", "pipeline_sends", "dp_step_terms",
          "_dp_terms", "microbatch_extras", "zero_exposure", "offload_step", "compose_step", "step_record",
          "_candidate_flops")


def _timed(acc: dict, name: str):
    f = getattr(S, name)

    def g(*a, **k):
        t0 = time.process_time()
        try:
            return f(*a, **k)
        finally:
            acc[name].append(time.process_time() - t0)
    setattr(S, name, g)


def fastest_quarter(xs: list) -> float:
    xs = sorted(xs)
    q = max(len(xs) // 4, 1)
    return sum(xs[:q]) / q


def core(n: int, calls: int = 40) -> None:
    acc = defaultdict(list)
    for name in STAGES:
        _timed(acc, name)
    cat = load_catalog()
    job = load_job(ROOT / "examples" / "llama3-70b.yaml")
    hw = option_from_instance(cat.instance("aws:p5.48xlarge"))
    c = random_candidates(n, np.random.default_rng(0))
    for rows in (n, 100):
        cc = c.take(np.arange(min(rows, n)))
        memory_per_gpu(job.model, job.training, cc)
        S.step_time(job.model, job.training, cc, hw)  # warm
        acc.clear()
        mem, step = [], []
        for _ in range(calls):
            t0 = time.process_time()
            memory_per_gpu(job.model, job.training, cc)
            t1 = time.process_time()
            S.step_time(job.model, job.training, cc, hw)
            step.append(time.process_time() - t1)
            mem.append(t1 - t0)
        both = fastest_quarter(mem) + fastest_quarter(step)
        print(f"{len(cc):>7,} rows: memory {1e3 * fastest_quarter(mem):.2f} ms, step time {1e3 * fastest_quarter(step):.2f}"
              f" ms ({len(cc) / both:,.0f} configs/s; fastest quarter of {calls} calls)")
        for name in sorted(acc, key=lambda k: -fastest_quarter(acc[k])):
            print(f"    {name:<18} {1e3 * fastest_quarter(acc[name]):7.3f} ms")


def recommend_profile(example: str) -> None:
    from planner.workloads.training import recommend
    cat = load_catalog()
    job = load_job(ROOT / "examples" / f"{example}.yaml")
    pr = cProfile.Profile(time.process_time)
    pr.enable()
    res = recommend(job, cat, simulate=False)
    pr.disable()
    print(f"recommend examples/{example}.yaml: {res['evaluated']:,} configurations")
    pstats.Stats(pr).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        keep_freed_memory()  # the CLI's allocator policy (planner.alloc), as bench_search.py
        if len(sys.argv) > 2 and sys.argv[1] == "--recommend":
            recommend_profile(sys.argv[2])
        else:
            core(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
