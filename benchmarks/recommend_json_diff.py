"""Byte-compare ``planner recommend --json`` across code versions, the search's own timing fields aside.

``python benchmarks/recommend_json_diff.py save DIR [--runs N]`` writes each example's JSON (``search_seconds`` and
``configs_per_second`` blanked) under DIR with its wall and CPU time (median of ``--runs``);
``python benchmarks/recommend_json_diff.py diff DIR_A DIR_B`` says which examples differ. Used to check that a
speed-up changes no result (QA perf49). ``--every``: every ``examples/*.yaml``, and ``planner estimate --json`` of each
beside its ``recommend`` (a job that names no cluster: estimate's one-line error and exit code, compared as well;
speed54); slow (the whole-catalog and DeepSeek-V3 searches: ~15 min on the 2-core machine at one run each).
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


def run_one(name: str, command: str = "recommend") -> tuple[str, float, float]:
    """The example's JSON with its timing fields blanked (a job the command refuses: its error line and exit code, as
    ``estimate`` on a job that names no cluster), its wall seconds, and its CPU seconds (child user+sys)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "planner", command, f"examples/{name}.yaml", "--json"],
                         cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    said = (run.stderr.strip() or "?").splitlines()[-1]  # the one-line error (a traceback's last line)
    out = run.stdout if run.returncode == 0 else f"exit {run.returncode}: {said}\n"
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return TIMING.sub(r"\1null", out), wall, cpu


def outputs(every: bool) -> list[tuple[str, str, str]]:
    """(example, command, the file its JSON is kept in): ``EXAMPLES``' recommend, or with ``every`` each example's
    recommend and estimate."""
    if not every:
        return [(n, "recommend", f"{n}.json") for n in EXAMPLES]
    names = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
    return [(n, cmd, f"{n}.json" if cmd == "recommend" else f"{n}.{cmd}.json")
            for n in names for cmd in ("recommend", "estimate")]


def save(dest: Path, runs: int, every: bool = False) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    times = {}
    for name, command, file in outputs(every):
        walls, cpus = [], []
        for _ in range(runs):
            text, wall, cpu = run_one(name, command)
            walls.append(wall)
            cpus.append(cpu)
        (dest / file).write_text(text)
        key = file[:-len(".json")]
        times[key] = {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}
        print(f"{key:37s} wall {times[key]['wall_s']:.2f} s  cpu {times[key]['cpu_s']:.2f} s", flush=True)
    (dest / "times.json").write_text(json.dumps(times, indent=1))


def diff(a: Path, b: Path, every: bool = False) -> int:
    bad = [f[:-len(".json")] for _, _, f in outputs(every) if (a / f).read_bytes() != (b / f).read_bytes()]
    print("identical" if not bad else "differ: " + ", ".join(bad))
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("save", "diff"), help="save: write DIR's JSON and times; diff: compare two DIRs")
    ap.add_argument("dirs", nargs="+", type=Path, help="save: one DIR; diff: DIR_A DIR_B")
    ap.add_argument("--runs", type=int, default=3, help="runs per example (the median time is kept)")
    ap.add_argument("--every", action="store_true", help="every example, recommend and estimate each")
    args = ap.parse_args(argv)
    if len(args.dirs) != (1 if args.mode == "save" else 2):
        ap.error(f"argument dirs: {args.mode} takes {'one directory' if args.mode == 'save' else 'two directories'}")
    if args.runs < 1:
        ap.error("argument --runs: must be at least 1")
    if args.mode == "save":
        save(args.dirs[0], args.runs, args.every)
        return 0
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        ap.error(f"argument dirs: no such directory: {missing[0]}")
    return diff(*args.dirs, every=args.every)


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        sys.exit(main())
