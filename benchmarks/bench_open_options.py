"""recommend's wall time on the README's examples whose stack has a searched option (rec54: accelerate's
``fsdp_version`` left open, planner.search.space ``stack_variants``), and the rows it evaluates.
Run it on two trees to compare: ``PYTHONPATH=<tree> python benchmarks/bench_open_options.py`` (best of 3 runs each;
the CPU is shared, so read differences under ~10% as noise)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from planner.errors import InfeasibleError
from planner.search.recommend import recommend
from planner.spec.load import load_job

ROOT = Path(__file__).resolve().parents[1]
#: the README examples a searched fsdp_version reaches: the HF Trainer default of QLoRA, and framework auto (whose
#: hf-trainer group searches it); a path given on the command line is timed too
EXAMPLES = ("qlora-llama3.1-70b.yaml", "llama3-8b-auto.yaml", "llama3-70b.yaml")


def main() -> None:
    for name in sys.argv[1:] or EXAMPLES:
        job = load_job(name if Path(name).exists() else ROOT / "examples" / name)
        best, said = float("inf"), ""
        for _ in range(3):
            t0 = time.perf_counter()
            try:
                said = f"{recommend(job).evaluated:,} rows evaluated"
            except InfeasibleError as e:  # a search with no plan is timed too (rec54's job before it searched FSDP1)
                said = f"no plan ({e.field})"
            best = min(best, time.perf_counter() - t0)
        print(f"{name}: {best:.2f} s, {said}")


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
