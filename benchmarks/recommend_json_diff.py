"""Byte-compare ``planner recommend --json`` across code versions, the search's own timing fields aside.

``python benchmarks/recommend_json_diff.py save DIR [--runs N]`` writes each example's JSON (``search_seconds`` and
``configs_per_second`` blanked) under DIR with its wall and CPU time (median of ``--runs``);
``python benchmarks/recommend_json_diff.py diff DIR_A DIR_B`` says which examples differ. Used to check that a
speed-up changes no result (QA perf49).
"""
from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.present.script_args import ScriptArgs  # noqa: E402

EXAMPLES = ["llama3-8b-auto", "mixtral-8x7b", "full-finetune-llama3.1-8b", "llama3-8b-estimate", "bare-model"]
TIMING = re.compile(r'("(?:search_seconds|configs_per_second)":\s*)[-0-9.eE+]+')


def run_one(name: str) -> tuple[str, float, float]:
    """The example's JSON with its timing fields blanked, its wall seconds, and its CPU seconds (child user+sys)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "planner", "recommend", f"examples/{name}.yaml", "--json"],
                         cwd=ROOT, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return TIMING.sub(r"\1null", out), wall, cpu


def save(dest: Path, runs: int) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    times = {}
    for name in EXAMPLES:
        walls, cpus = [], []
        for _ in range(runs):
            text, wall, cpu = run_one(name)
            walls.append(wall)
            cpus.append(cpu)
        (dest / f"{name}.json").write_text(text)
        times[name] = {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}
        print(f"{name:28s} wall {times[name]['wall_s']:.2f} s  cpu {times[name]['cpu_s']:.2f} s", flush=True)
    (dest / "times.json").write_text(json.dumps(times, indent=1))


def diff(a: Path, b: Path) -> int:
    bad = [n for n in EXAMPLES if (a / f"{n}.json").read_bytes() != (b / f"{n}.json").read_bytes()]
    print("identical" if not bad else "differ: " + ", ".join(bad))
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("save", "diff"), help="save: write DIR's JSON and times; diff: compare two DIRs")
    ap.add_argument("dirs", nargs="+", type=Path, help="save: one DIR; diff: DIR_A DIR_B")
    ap.add_argument("--runs", type=int, default=3, help="runs per example (the median time is kept)")
    args = ap.parse_args(argv)
    if len(args.dirs) != (1 if args.mode == "save" else 2):
        ap.error(f"argument dirs: {args.mode} takes {'one directory' if args.mode == 'save' else 'two directories'}")
    if args.runs < 1:
        ap.error("argument --runs: must be at least 1")
    if args.mode == "save":
        save(args.dirs[0], args.runs)
        return 0
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        ap.error(f"argument dirs: no such directory: {missing[0]}")
    return diff(*args.dirs)


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        sys.exit(main())
