"""Step-time rows predicted over their GPU's memory, term by term.

Every row of ``benchmarks/validate.py`` is a run that ran, so it fits its GPU. This lists each row whose predicted
memory per GPU (``memory_per_gpu`` on the model, training, layout, stack and GPU its step-time prediction used) exceeds
the GPU's memory, with the terms: weights, gradients, optimizer, activations, logits / loss transient, the allocator's
reserve (``memory.allocator_reserve`` of the activations + logits) and the rest of ``other`` (CUDA context, NCCL
buffers: ``outside_allocator``).

How rows are matched (as bigmem37 / overmem38 did by hand): ``validate.recording`` keeps the ``step_time`` calls of
one ``run_all``; each call's candidates go through ``memory_per_gpu`` with the same inputs, and a row takes the memory
of the candidate whose predicted step it printed (exact float equality on ``predicted_s`` within the row's source's
calls).

Run: ``python benchmarks/over_memory.py [--all] [--csv F]``: the rows over (``--all``: every row), then the count over
and the count over by more than ``memory.FRAGMENTATION`` (the reserve's share).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import validate  # noqa: E402
from planner.model.memory import FRAGMENTATION, GiB, allocator_reserve, memory_per_gpu  # noqa: E402
from planner.present.script_args import ScriptArgs  # noqa: E402

TERMS = ("weights", "grads", "optimizer", "activations", "logits", "reserve", "outside")


def _call_rows(m, t, c, hw, kw, steps) -> list[tuple[float, dict]]:
    """(predicted step, memory terms in GiB) for each candidate of one ``step_time`` call."""
    mem = memory_per_gpu(m, t, c, stack=kw.get("framework"), gpu=hw.gpu.name)
    out = []
    for i, s in enumerate(np.ravel(steps)):
        v = {k: float(np.ravel(mem[k])[i]) for k in ("weights", "grads", "optimizer", "activations", "logits",
                                                        "other", "total")}
        v["reserve"] = float(allocator_reserve(v["activations"] + v["logits"]))
        v["outside"] = v["other"] - v["reserve"]
        row = {k: v[k] / GiB for k in (*TERMS, "total")}
        row.update(gpu_gib=hw.gpu.memory_bytes / GiB, model_name=m.name)
        out.append((float(s), row))
    return out


def rows_memory(cat=None) -> pd.DataFrame:
    """``validate.run_all``'s rows with each row's predicted memory terms (GiB) and its GPU's memory."""
    from hardware_catalog import load_catalog

    cat = cat or load_catalog()
    with validate.recording() as calls:
        df = validate.run_all(cat)
    by_step: dict[float, dict] = {}
    for k in calls:
        for s, row in _call_rows(k.model, k.training, k.layout, k.hw, k.kw, k.result["step_time_s"]):
            by_step.setdefault(s, row)
    mem = pd.DataFrame([by_step.get(float(s), {}) for s in df["predicted_s"]], index=df.index)
    return pd.concat([df, mem], axis=1)


def over(df: pd.DataFrame) -> pd.DataFrame:
    """The rows whose predicted total exceeds their GPU's memory, with the excess as a fraction."""
    d = df[df["total"] > df["gpu_gib"]].copy()
    d["over"] = d["total"] / d["gpu_gib"] - 1
    return d.sort_values(["source", "over"], ascending=[True, False])


def main(argv=None):
    ap = ScriptArgs(description=__doc__.split("\n")[0])
    ap.add_argument("--all", action="store_true", help="list every row, not only those over their GPU")
    ap.add_argument("--csv", help="write every row's memory terms here")
    args = ap.parse_args(argv)
    df = rows_memory()
    if args.csv:
        df.to_csv(args.csv, index=False)
    missing = int(df["total"].isna().sum())
    d = df.assign(over=df["total"] / df["gpu_gib"] - 1) if args.all else over(df)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", None)
    pd.set_option("display.max_colwidth", 48)
    cols = ["source", "id", "model", "gpu", "tp", "pp", "dp", "mb", "total", "gpu_gib", "over", *TERMS]
    cols = [c for c in cols if c in d]
    print(d[cols].to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    o = over(df)
    print(f"\nrows over their GPU: {len(o)} of {len(df)}; over by more than the reserve's {FRAGMENTATION:.0%}: "
          f"{int((o['over'] > FRAGMENTATION).sum())}" + (f"; rows not matched to a call: {missing}" if missing else ""))
    return o


if __name__ == "__main__":
    from planner.present.script_args import closed_pipe_quiet  # a closed stdout (| head): no traceback

    with closed_pipe_quiet():
        main()
