"""Catalog loading speed and memory for large override files (numbers printed, nothing asserted).

Issue: a 3,000-row GPU override took 37 s (the alias index was rebuilt, and every GPU row
re-validated, once per override row: quadratic) and a 3,000-instance override 48 s / 8.4 GB.
This script writes, in a temporary folder, override files of ``N`` (default 3,000) GPU rows and
``N`` instance rows, as CSV and as YAML, loads each in a fresh Python process and prints the wall
time and that process's peak resident memory (``ru_maxrss``). The built-in catalog alone is the
baseline. The last case also looks every instance up by name (``Catalog.instance`` used to rebuild
its lookup dict on every call).

    python benchmarks/bench_catalog.py            # N = 3000
    python benchmarks/bench_catalog.py 1000
    python benchmarks/bench_catalog.py 3000 --root /path/to/old/checkout   # the same cases on another tree

``--root`` points at a directory holding a ``hardware_catalog`` package (e.g. ``git archive`` of an
older commit) so "before" and "after" run the same script. The instance rows use only columns both
versions know (no ``fabric``/``cluster``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from hardware_catalog.catalog import load_catalog
t1 = time.perf_counter()
cat = load_catalog({paths!r})
if {lookups!r}:  # look every instance up by its bare name, as a planner sweep over instances does
    for inst in list(cat.instances.values()):
        cat.instance(inst.name)
t2 = time.perf_counter()
print(f"{{t2 - t1:.3f}} {{len(cat.gpus)}} {{len(cat.instances)}}")
"""


def gpu_rows(n: int) -> list[dict]:
    return [dict(name=f"Bench-GPU-{i}", aliases=f"bench{i};bg-{i}", vendor="Bench", memory_gib=80,
                 hbm_bw_tbps=3.0, bf16_tflops=900 + i % 100, fp32_tflops=60, tdp_w=700,
                 source="synthetic benchmark row") for i in range(n)]


def instance_rows(n: int) -> list[dict]:
    return [dict(cloud="bench", name=f"node-{i}", gpu="H100", gpu_count=8, vcpus=192, ram_gib=2048,
                 network_gbps=3200, price_ondemand_usd_hr=50 + i % 7,
                 source="synthetic benchmark row") for i in range(n)]


def write_csv(path: Path, rows: list[dict]) -> None:
    cols = list(rows[0])
    lines = [",".join(cols)] + [",".join(str(r[c]) for c in cols) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def write_yaml(path: Path, key: str, rows: list[dict]) -> None:
    lines = [f"{key}:"]
    for r in rows:
        lines.append("  - {" + ", ".join(f"{k}: {v}" for k, v in r.items()) + "}")
    path.write_text("\n".join(lines) + "\n")


def run(paths: list[str], root: Path = ROOT, lookups: bool = False) -> tuple[float, float, float, str]:
    """(wall seconds in load_catalog [+ lookups], whole-process wall, peak RSS MiB, counts) of one child."""
    code = CHILD.format(root=str(root), paths=paths, lookups=lookups)
    env = dict(os.environ, PLANNER_CATALOG="")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return float("nan"), wall, float("nan"), "FAILED: " + (err.strip().splitlines() or ["?"])[-1]
    load_s, ng, ni = out.split()
    return float(load_s), wall, _peak_rss_mib(code, env), f"{ng} GPUs, {ni} instances"


def _peak_rss_mib(code: str, env: dict) -> float:
    """Peak RSS (Linux: KiB) of a second run of the same child, read with wait4: that process only."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    _, _, ru = os.wait4(proc.pid, 0)
    return ru.ru_maxrss / 1024


def main() -> None:
    args = sys.argv[1:]
    root = ROOT
    if "--root" in args:
        i = args.index("--root")
        root = Path(args[i + 1]).resolve()
        del args[i:i + 2]
    n = int(args[0]) if args else 3000
    print(f"hardware_catalog from {root}")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        write_csv(d / "gpus.csv", gpu_rows(n))
        write_csv(d / "instances.csv", instance_rows(n))
        write_yaml(d / "gpus.yaml", "gpus", gpu_rows(n))
        write_yaml(d / "instances.yaml", "instances", instance_rows(n))
        cases = [("built-in catalog only", []),
                 (f"{n:,} GPU rows (CSV)", [str(d / "gpus.csv")]),
                 (f"{n:,} instance rows (CSV)", [str(d / "instances.csv")]),
                 (f"{n:,} GPU rows (YAML)", [str(d / "gpus.yaml")]),
                 (f"{n:,} instance rows (YAML)", [str(d / "instances.yaml")]),
                 (f"{n:,} instance rows + lookups", [str(d / "instances.csv")], True)]
        print(f"{'case':<30} {'load_catalog s':>14} {'process s':>10} {'peak RSS MiB':>13}  result")
        for name, paths, *lookups in cases:
            load_s, wall, rss, what = run(paths, root, bool(lookups))
            print(f"{name:<30} {load_s:>14.3f} {wall:>10.2f} {rss:>13.0f}  {what}")


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
